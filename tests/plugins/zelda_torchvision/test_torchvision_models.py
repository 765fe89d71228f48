"""The torchvision plugin: every architecture builds, trains a step, round-trips its state
dict and loads a .pth written by torchvision's own model; preprocessing follows the weights;
offline weight names fail with one paragraph. No network: weights are written locally.

Needs torchvision (the nox session ``tests_torchvision`` installs it); skipped without it
unless ZELDA_TEST_EXTRAS names torchvision (then it must be there).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from extras import need

need("torchvision", "torchvision")  # the torchvision session requires it (ZELDA_TEST_EXTRAS)

from deploy_helpers import link_kinetics2_subset  # noqa: E402
from zelda_torchvision.archs import ARCHS  # noqa: E402
from zelda_torchvision.weights import WeightsError  # noqa: E402

from zelda_core._registry import build  # noqa: E402

REPO = Path(__file__).resolve().parents[3]

TINY = {  # (frames, side) of a clip each architecture accepts, as small as it allows
    "r3d_18": (4, 32), "mc3_18": (4, 32), "r2plus1d_18": (4, 32),
    "s3d": (8, 64),  # temporal and spatial strides of 8 and 32 before its final pooling
    "mvit_v1_b": (4, 32), "mvit_v2_s": (4, 32),  # built for this size (frames, crop_size)
    "swin3d_t": (4, 32), "swin3d_s": (4, 32), "swin3d_b": (4, 32),
}


def _table(arch: str, **kw) -> dict:
    table = {"type": arch, **kw}
    if ARCHS[arch].fixed_size:
        table.update(frames=TINY[arch][0], crop_size=TINY[arch][1])
    return table


def _torchvision_net(arch: str, num_classes: int) -> torch.nn.Module:
    """torchvision's own model (MViT built for the tiny size through its private _mvit),
    built on the meta device and filled with small random values (much faster than its
    initialization for the 50-88 M parameter Swins; the keys and shapes are torchvision's)."""
    import torchvision.models.video as tvv
    from zelda_torchvision.models import _builder_args

    with torch.device("meta"):
        if ARCHS[arch].fixed_size:
            frames, side = TINY[arch]
            with _builder_args(tvv.mvit, "_mvit", spatial_size=(side, side), temporal_size=frames):
                net = getattr(tvv, arch)(num_classes=num_classes)
        else:
            net = getattr(tvv, arch)(num_classes=num_classes)
    net = net.to_empty(device="cpu")
    for name, t in net.state_dict().items():
        if t.is_floating_point():
            t.uniform_(0.5, 1.0) if name.endswith("running_var") else t.normal_(0.0, 0.02)
        else:
            t.zero_()  # relative_position_index: any valid index
    return net


@pytest.mark.parametrize("arch", list(ARCHS))
def test_architecture(arch, tmp_path):
    """Build from a .pth written by torchvision's model (400 classes -> a new 3-class
    classifier), forward+backward on a tiny clip, output shapes, state-dict round trip."""
    torch.manual_seed(0)
    reference = _torchvision_net(arch, 400)
    pth = tmp_path / f"{arch}.pth"
    torch.save(reference.state_dict(), pth)
    model = build("models", _table(arch, num_classes=3, weights=str(pth)), key="model")
    assert (model.num_classes, model.average_clips) == (3, "prob")
    own, ref = model.net.state_dict(), reference.state_dict()
    classifier = ARCHS[arch].classifier
    for key, value in ref.items():
        if key.startswith(classifier + "."):
            assert own[key].shape[0] == 3  # replaced for the data's classes
        else:
            assert torch.equal(own[key], value), key
    del reference, ref

    frames, side = TINY[arch]
    inputs = torch.randint(0, 256, (2, 2, 3, frames, side, side), dtype=torch.uint8)  # B=2, V=2
    model.train()
    loss = model.loss(inputs, torch.tensor([0, 2]))
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert model.net.get_submodule(classifier).weight.grad is not None
    model.eval()
    assert model(inputs).shape == (4, 3)
    probs = model.predict(inputs)
    assert probs.shape == (2, 3) and torch.allclose(probs.sum(1), torch.ones(2), atol=1e-5)

    saved = tmp_path / "state.pth"  # round trip: zelda's state dict, saved and loaded back
    torch.save(model.state_dict(), saved)
    again = build("models", _table(arch, num_classes=3, weights=str(saved)), key="model")
    again.load_state_dict(torch.load(saved, weights_only=True))  # strict: the same keys
    again.eval()
    assert torch.allclose(again.predict(inputs), probs, atol=1e-5)


def test_weights_class_count_and_bad_files(tmp_path):
    """replace_classifier = false with another class count is a clear error; so are a
    missing file, an unknown weight name and a state dict of another architecture."""
    import torchvision.models.video as tvv

    pth = tmp_path / "r3d.pth"
    torch.save(tvv.r3d_18(num_classes=5).state_dict(), pth)
    with pytest.raises(Exception, match="score 5 classes but the model is built for 3.*replace_classifier"):
        build("models", {"type": "r3d_18", "num_classes": 3, "weights": str(pth),
                         "replace_classifier": False}, key="model")
    model = build("models", {"type": "r3d_18", "weights": str(pth)}, key="model")
    assert model.num_classes == 5  # no num_classes: the weights' own classifier stays
    with pytest.raises(WeightsError, match="do not fit mc3_18"):
        build("models", {"type": "mc3_18", "num_classes": 5, "weights": str(pth)}, key="model")
    with pytest.raises(WeightsError, match="no such file"):
        build("models", {"type": "r3d_18", "weights": str(tmp_path / "nope.pth")}, key="model")
    with pytest.raises(Exception, match="no weight set of that name.*KINETICS400_V1"):
        build("models", {"type": "r3d_18", "weights": "KINETICS_V9"}, key="model")


def test_weight_name_offline_is_one_paragraph(tmp_path):
    """No network, nothing cached: the error names the URL and the cache path, and the CLI
    prints it as one paragraph without a traceback."""
    from engine_util import make_dataset

    root = make_dataset(tmp_path / "data", n_train=2, n_val=0)
    recipe = tmp_path / "r.toml"
    recipe.write_text(f"""
[data]
root = "{root}"
batch_size = 1
workers = 0
[data.train]
type = "video_list"
ann_file = "kinetics_tiny_train_video.txt"
prefix = "train"
pipeline = [{{ type = "sample_frames", clip_len = 4 }}, {{ type = "decode" }},
            {{ type = "resize", size = [32, 32] }}, {{ type = "format_shape" }}, {{ type = "pack" }}]
[model]
type = "r2plus1d_18"
weights = "KINETICS400_V1"
[train]
epochs = 1
device = "cpu"
""")
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch"), "no_proxy": "", "NO_PROXY": "",
           "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}  # offline
    proc = subprocess.run([sys.executable, "-m", "zelda_core", "run", str(recipe), "--work-dir",
                           str(tmp_path / "work")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    error = proc.stderr[proc.stderr.index("zelda: error:"):].strip()
    assert "\n" not in error
    url = "https://download.pytorch.org/models/r2plus1d_18-91a641e6.pth"
    cached = tmp_path / "torch" / "hub" / "checkpoints" / "r2plus1d_18-91a641e6.pth"
    assert url in error and str(cached) in error
    assert not cached.exists()


def _clip(shared_dir: Path | None, tmp_path: Path) -> Path:
    folder = shared_dir / "data" / "kinetics2_tiny" / "val" if shared_dir else None
    if folder is not None and folder.is_dir():
        return sorted(folder.glob("*.mp4"))[0]  # 456x256: resize and crop both work
    from engine_util import make_video  # a noise clip when ../shared is absent

    return make_video(tmp_path / "clip.mp4", frames=40, size=(240, 320))


@pytest.fixture
def shared_or_none(request):
    try:
        return request.getfixturevalue("shared_dir")
    except pytest.skip.Exception:
        return None


@pytest.mark.parametrize("arch", ["r2plus1d_18", "mvit_v2_s", "s3d"])
def test_preprocessing_matches_torchvision_transforms(arch, tmp_path, shared_or_none):
    """The pipeline a recipe gets from the weights (sizes left out) plus the model's
    normalization equals torchvision's ``weights.transforms()`` on the same decoded frames,
    within rounding: at most a 1-pixel crop offset (zelda's centre crop floors, torchvision's
    rounds) and one intensity level (uint8 vs float resize arithmetic)."""
    from zelda_torchvision.weights import weight_enum

    from zelda_core._data import sample_rng
    from zelda_core._pipeline import Pipeline
    from zelda_core._recipe import load_recipe
    from zelda_core.api import VideoOpener

    video = _clip(shared_or_none, tmp_path)
    recipe = tmp_path / "r.toml"
    recipe.write_text(f"""
[data.val]
type = "video_list"
ann_file = "x.txt"
pipeline = [{{ type = "sample_frames", num_clips = 1, test_mode = true }}, {{ type = "decode" }},
            {{ type = "resize" }}, {{ type = "center_crop" }}, {{ type = "format_shape" }},
            {{ type = "pack" }}]
[model]
type = "{arch}"
weights = "KINETICS400_V1"
""")
    loaded = load_recipe(recipe)
    steps = loaded.data["data"]["val"]["pipeline"]
    spec = weight_enum(arch).KINETICS400_V1
    tv_transform = spec.transforms()
    frames = steps[0]["clip_len"]
    assert frames == {"r2plus1d_18": 16, "mvit_v2_s": 16, "s3d": 128}[arch]
    steps[0]["clip_len"] = min(frames, 16)  # fewer frames keep the test quick; sizes as filled
    assert steps[3]["crop_size"] == tv_transform.crop_size[0]

    def sample():
        return {"filename": str(video), "label": 0, "index": 0, "epoch": 0, "rng": sample_rng(0, 0, 0),
                "test_mode": True, "decoder": {"type": "pyav"}, "opener": VideoOpener("pyav"),
                "start_index": 0, "modality": "RGB"}

    # unfused: the decoder's own scaler (used when resize follows decode) smooths a large
    # downscale, where torchvision's resize (antialias=False) samples (docs/models.md)
    ours = Pipeline.from_config(steps, fuse=False)(sample())["inputs"]  # uint8 (1, C, T, H, W)
    raw = Pipeline.from_config(steps[:2])(sample())["imgs"]  # the same frames, native size
    mean = torch.tensor(loaded.data["model"]["mean"]).view(1, 3, 1, 1, 1)
    std = torch.tensor(loaded.data["model"]["std"]).view(1, 3, 1, 1, 1)
    ours = ((ours.float() - mean) / std)[0]
    theirs = tv_transform(torch.from_numpy(np.stack(raw)).permute(0, 3, 1, 2))  # (C, T, H, W)
    assert ours.shape == theirs.shape
    level = float(1 / min(loaded.data["model"]["std"])) * 1.01
    best = min(
        float((ours[..., max(dy, 0):ours.shape[-2] + min(dy, 0), max(dx, 0):ours.shape[-1] + min(dx, 0)]
               - theirs[..., max(-dy, 0):theirs.shape[-2] + min(-dy, 0),
                        max(-dx, 0):theirs.shape[-1] + min(-dx, 0)]).abs().max())
        for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    assert best <= level + 1e-6, (best, level)


def test_channels_last_only_for_conv_nets():
    conv = build("models", {"type": "r3d_18", "num_classes": 2}, key="model")
    conv.enable_channels_last()
    out = conv(torch.zeros(1, 1, 3, 4, 32, 32, dtype=torch.uint8))
    assert out.shape == (1, 2)
    swin = build("models", {"type": "swin3d_t", "num_classes": 2}, key="model")
    assert not hasattr(swin, "enable_channels_last")


@pytest.mark.parametrize("name", ["r2plus1d_kinetics_tiny", "mvit_v2_s_kinetics_tiny"])
def test_recipes_check(name):
    from zelda_core._cli.main import main

    assert main(["recipe", "check", str(REPO / "recipes" / f"{name}.toml")]) == 0


@pytest.mark.slow
def test_finetune_r2plus1d_one_epoch_on_kinetics2(shared_dir, tmp_path, capsys):
    """``zelda run recipes/r2plus1d_kinetics_tiny.toml`` for 1 epoch on CPU from a local .pth
    (torchvision's own 400-class r2plus1d_18): the backbone is frozen in epoch 1 (its weights
    and, with batchnorm = "eval", its running statistics are unchanged), the classifier is
    replaced and trained, the pretrained layers' group has 0.1x the learning rate."""
    import torchvision.models.video as tvv

    from zelda_core._cli.main import main

    src = shared_dir / "data" / "kinetics2_tiny"
    if not src.is_dir():
        pytest.skip(f"{src} not found")
    root = link_kinetics2_subset(src, tmp_path / "k2")
    torch.manual_seed(0)
    pth = tmp_path / "r2plus1d_18.pth"
    torch.save(tvv.r2plus1d_18().state_dict(), pth)
    work = tmp_path / "work"
    small = ["data.train.pipeline.0.clip_len=4", "data.val.pipeline.0.clip_len=4",
             "data.val.pipeline.0.num_clips=1", "data.train.pipeline.2.size=[40, 53]",
             "data.train.pipeline.3.size=32", "data.val.pipeline.2.size=[40, 53]",
             "data.val.pipeline.3.crop_size=32", "data.batch_size=2"]
    args = ["run", str(REPO / "recipes" / "r2plus1d_kinetics_tiny.toml"), "--work-dir", str(work),
            "--set", f"data.root={root}", "--set", "train.epochs=1", "--set", "data.workers=0",
            "--set", "data.train.label_map=label_map.txt", "--set", f"model.weights={pth}",
            "--set", "train.device=cpu"]
    for s in small:
        args += ["--set", s]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "net.fc is replaced by a new 2-class classifier" in out.err
    log = (work / "train.log").read_text()
    assert "frozen for the first 1 epoch(s)" in log and "lr 0.001" in log and "lr 0.01" in log
    trained = torch.load(work / "checkpoints" / "last.pth", weights_only=True)["model"]
    pretrained = torch.load(pth, weights_only=True)
    frozen = [k for k in pretrained if k.startswith(("stem.", "layer"))]
    assert frozen and all(torch.equal(trained[f"net.{k}"], pretrained[k]) for k in frozen)
    assert trained["net.fc.weight"].shape == (2, 512)


@pytest.mark.parametrize("arch", ["r3d_18", "mvit_v2_s"])
def test_soft_and_multi_label_targets(arch):
    """The targets contract: soft (B, K) rows give the soft cross-entropy of every view,
    multi_label gives BCE and sigmoid-averaged predictions; the kit's clauses pass."""
    import torch.nn.functional as F

    from zelda_testing import check_model

    frames, side = TINY[arch]
    shape = (2, 2, 3, frames, side, side)
    torch.manual_seed(0)
    model = build("models", _table(arch, num_classes=3), key="model").eval()
    check_model(model, num_classes=3, shape=shape)
    inputs = torch.randint(0, 256, shape, dtype=torch.uint8)
    rows = torch.tensor([[0.2, 0.8, 0.0], [0.5, 0.25, 0.25]])
    with torch.no_grad():
        scores = model(inputs)
        want = -(rows.repeat_interleave(2, 0) * scores.log_softmax(-1)).sum(-1).mean()
        assert torch.allclose(model.loss(inputs, rows), want, atol=1e-5)
    torch.manual_seed(0)
    multi = build("models", _table(arch, num_classes=3, multi_label=True), key="model").eval()
    assert multi.multi_label is True
    check_model(multi, num_classes=3, shape=shape)
    hot = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    with torch.no_grad():
        scores = multi(inputs)
        want = F.binary_cross_entropy_with_logits(scores, hot.repeat_interleave(2, 0))
        assert torch.allclose(multi.loss(inputs, hot), want, atol=1e-5)
        assert torch.allclose(multi.predict(inputs), scores.sigmoid().view(2, 2, 3).mean(1), atol=1e-5)
