"""What the loss trains on (contract 1): train.label_smoothing and train.class_weights for
any model through soft target rows, [[train.batch_transforms]] (mixup/cutmix) checked by
recipe check, run on the training batch, and drawn again identically after a mid-epoch
kill and --resume."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from engine_util import make_dataset, small_recipe  # noqa: E402
from test_resume_exact import _kill_mid_epoch, _records  # noqa: E402

from zelda_core import build  # noqa: E402
from zelda_core._engine.targets import Targets, inverse_frequency  # noqa: E402

pytestmark = pytest.mark.decoder_independent
CPU = torch.device("cpu")


def _zelda(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zelda_core", *args], cwd=cwd,
                          capture_output=True, text=True)


def _model():
    torch.manual_seed(0)
    return build("models", {
        "type": "recognizer", "preprocessor": {"type": "normalize"},
        "backbone": {"type": "conv3d_tiny", "channels": [4, 8]},
        "head": {"type": "cls_head", "num_classes": 3, "dropout": 0.0}}).eval()


def _clips():
    g = torch.Generator().manual_seed(2)
    return (torch.randint(0, 256, (4, 2, 3, 4, 32, 32), dtype=torch.uint8, generator=g),
            torch.tensor([0, 2, 2, 1]))


def test_label_smoothing_and_class_weights_reach_any_model_as_target_rows():
    model, (x, labels) = _model(), _clips()
    with torch.no_grad():
        scores, views = model(x), labels.repeat_interleave(2)
        plain = Targets(num_classes=3)
        assert not plain.soft and plain(x, labels, epoch=0, step=0, device=CPU)[1] is labels
        _, rows = Targets(num_classes=3, label_smoothing=0.1)(x, labels, epoch=0, step=0, device=CPU)
        assert torch.allclose(rows.sum(1), torch.ones(4))
        assert torch.allclose(model.loss(x, rows), F.cross_entropy(scores, views, label_smoothing=0.1), atol=1e-6)
        w = [0.5, 2.0, 1.5]
        _, rows = Targets(num_classes=3, class_weights=w)(x, labels, epoch=0, step=0, device=CPU)
        assert torch.allclose(model.loss(x, rows), F.cross_entropy(scores, views, weight=torch.tensor(w)), atol=1e-6)
    assert inverse_frequency([0, 0, 0, 1], 3) == pytest.approx([4 / 9, 4 / 3, 4 / 3])


def _recipe(tmp_path, extra: str, model_extra: str = ""):
    root = make_dataset(tmp_path / "data", n_train=6, n_val=2)
    path = small_recipe(tmp_path / "r.toml", root, tmp_path / "work", epochs=1, extra=extra)
    if model_extra:
        path.write_text(path.read_text().replace("dropout = 0.0", "dropout = 0.0\n" + model_extra))
    return path


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("targets") / "data", n_train=6, n_val=2)


@pytest.mark.parametrize("extra,model_extra,says", [
    ('batch_transforms = [{ type = "mixpu" }]', "", r"train.batch_transforms\[0\].*Did you mean 'mixup'"),
    ('batch_transforms = [{ type = "mixup", mixup_alpha = -1.0 }]', "", r"train.batch_transforms\[0\].*mixup_alpha must be >= 0"),
    ('batch_transforms = [{ type = "mixup", mode = "pairs" }]', "", r"train.batch_transforms\[0\].*mode"),
    ('batch_transforms = [{ type = "cutmix", switch_prob = 0.5 }]', "", "unknown parameter 'switch_prob'"),
    ("label_smoothing = 1.5", "", r"train.label_smoothing.*must be in \[0, 1\)"),
    ("label_smoothing = 0.1", "label_smoothing = 0.1", "model.head.label_smoothing.*both smooth"),
    ('class_weights = "inverse"', "", "train.class_weights.*inverse_frequency"),
    ("class_weights = [-1.0, 2.0]", "", "train.class_weights.*one weight >= 0 per class"),
])
def test_check_and_run_name_the_key(tmp_path, data_root, extra, model_extra, says, capsys):
    import re

    from zelda_core._cli.main import main

    path = small_recipe(tmp_path / "r.toml", data_root, tmp_path / "work", epochs=1, extra=extra)
    path.write_text(path.read_text().replace("dropout = 0.0", "dropout = 0.0\n" + model_extra))
    for command in (["recipe", "check"], ["run"]):
        assert main([*command, str(path)]) == 1, command
        err = capsys.readouterr().err
        assert re.search(says, err.replace("\n", " ")) and "Traceback" not in err, (command, err)
    assert not (tmp_path / "work").exists()


def test_class_weights_of_the_wrong_length_stop_the_run_before_training(tmp_path, data_root, capsys):
    from zelda_core._cli.main import main

    path = small_recipe(tmp_path / "r.toml", data_root, tmp_path / "work", epochs=1,
                        extra="class_weights = [1.0, 2.0, 3.0]")
    assert main(["run", str(path), "--set", 'train.device="cpu"']) == 1
    err = capsys.readouterr().err
    assert "train.class_weights has 3 weights but the data has 2 classes" in err.replace("\n", " ")
    assert "Traceback" not in err and not _records(tmp_path / "work")


@pytest.mark.slow
def test_kill9_mid_epoch_then_resume_draws_the_same_mixup(tmp_path):
    """Mixup and cutmix per sample, label smoothing and class weights on: a run killed
    mid-epoch and resumed ends with the same weights and per-step losses as one never
    interrupted (the losses depend on every lambda and box)."""
    extra = ('checkpoint_iters = 1\nlabel_smoothing = 0.1\nclass_weights = "inverse_frequency"\n'
             'batch_transforms = [{ type = "mixup", mixup_alpha = 0.8, cutmix_alpha = 1.0, mode = "elem" }]')
    recipe = _recipe(tmp_path, extra)
    recipe.write_text(recipe.read_text().replace('type = "conv3d_tiny"', 'type = "conv3d_tiny"\nchannels = [8, 16]'))
    common = ["--set", "train.epochs=2", "--set", 'train.device="cpu"', "--no-plots"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    res = _zelda("run", str(recipe), "--work-dir", str(straight), *common, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "train targets: batch transform Mixup(mixup_alpha=0.8" in (straight / "train.log").read_text()
    _kill_mid_epoch([sys.executable, "-m", "zelda_core", "run", str(recipe), "--work-dir", str(killed), *common],
                    killed, tmp_path, after_iter=1)
    ck = torch.load(killed / "checkpoints" / "last.pth", weights_only=True)
    assert ck["epoch"] == 0 and 0 < ck["iter_in_epoch"] < 3, "the kill must hit epoch 1 mid-way"
    res = _zelda("run", str(recipe), "--work-dir", str(killed), "--resume", *common, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    a = torch.load(straight / "checkpoints" / "last.pth", weights_only=True)["model"]
    b = torch.load(killed / "checkpoints" / "last.pth", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a), "weights differ after resume"
    la = [r["loss"] for r in _records(straight) if r["type"] == "train"]
    assert la == [r["loss"] for r in _records(killed) if r["type"] == "train"]
