"""The transformers models behind zelda's Model contract, on tiny random configs built here
(no download): forward, backward, hard/soft/multi-label loss, predict and view averaging,
state-dict round trip, local checkpoint folders with classifier replacement, InputSpec from
a processor config, config keys checked, the fine-tuning hooks."""

from __future__ import annotations

import json

import pytest
from extras import need
from hf_tiny import CLIP, TINY, save_tiny_checkpoint

need("transformers", "transformers")  # the transformers session requires it (ZELDA_TEST_EXTRAS)

import torch  # noqa: E402
from zelda_transformers import models  # noqa: E402

from zelda_core.api import Model  # noqa: E402

pytestmark = pytest.mark.decoder_independent
ARCHS = sorted(TINY)
K = 3


def clips(b: int = 2, v: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t, s = CLIP
    return torch.randint(0, 256, (b, v, 3, t, s, s), dtype=torch.uint8, generator=g)


def tiny(arch: str, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    return getattr(models, arch)(num_classes=K, config=TINY[arch], **kw)


@pytest.mark.parametrize("arch", ARCHS)
def test_contract_forward_backward_losses_predict(arch):
    model = tiny(arch)
    assert isinstance(model, Model) and model.num_classes == K
    x = clips()
    scores = model(x)
    assert scores.shape == (4, K)  # one row per view
    hard = torch.tensor([0, 2])
    loss = model.loss(x, hard)
    loss.backward()
    grads = [p.grad for n, p in model.named_parameters() if ".predictor." not in n]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    # soft targets: a one-hot row is the hard loss; a mixed row is the soft cross-entropy
    model.eval()
    with torch.no_grad():
        s = model(x).float()
        assert torch.allclose(model.loss(x, hard), model.loss(x, torch.eye(K)[hard]), atol=1e-6)
        rows = torch.tensor([[0.3, 0.7, 0.0], [0.0, 0.5, 0.5]])
        want = -(rows.repeat_interleave(2, 0) * s.log_softmax(-1)).sum(-1).mean()
        assert torch.allclose(model.loss(x, rows), want, atol=1e-6)
        # predict: each sample's views' probabilities averaged
        p = model.predict(x)
        assert p.shape == (2, K)
        assert torch.allclose(p, s.softmax(-1).view(2, 2, K).mean(1), atol=1e-6)
        assert torch.allclose(p.sum(1), torch.ones(2), atol=1e-5)
        one_view = model.predict(x[:, :1])
        assert torch.allclose(one_view, s.view(2, 2, K)[:, 0].softmax(-1), atol=1e-6)


@pytest.mark.parametrize("arch", ["videomae", "vivit"])
def test_multi_label_bce_and_sigmoid_views(arch):
    model = tiny(arch, multi_label=True).eval()
    x = clips()
    multi_hot = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    with torch.no_grad():
        s = model(x).float()
        want = torch.nn.functional.binary_cross_entropy_with_logits(
            s, multi_hot.repeat_interleave(2, 0))
        assert torch.allclose(model.loss(x, multi_hot), want, atol=1e-6)
        assert torch.allclose(model.predict(x), s.sigmoid().view(2, 2, K).mean(1), atol=1e-6)


@pytest.mark.parametrize("arch", ARCHS)
def test_state_dict_round_trip_and_local_checkpoint(arch, tmp_path):
    model = tiny(arch).eval()
    path = tmp_path / "m.pt"
    torch.save(model.state_dict(), path)
    other = getattr(models, arch)(num_classes=K, config=TINY[arch]).eval()
    other.load_state_dict(torch.load(path, weights_only=True))
    x = clips()
    assert torch.equal(model.predict(x), other.predict(x))
    # a local transformers folder: its 5-class head replaced for 3 classes, labels rewritten
    folder = save_tiny_checkpoint(arch, tmp_path / "ckpt", num_labels=5)
    loaded = getattr(models, arch)(num_classes=K, checkpoint=str(folder))
    assert loaded.net.classifier.out_features == K and loaded.net.config.num_labels == K
    assert loaded.net.config.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    same = getattr(models, arch)(checkpoint=str(folder))  # num_classes left out: the folder's
    assert same.num_classes == 5 and same.net.config.id2label[4] == "orig4"
    with pytest.raises(ValueError, match="replace_classifier"):
        getattr(models, arch)(num_classes=K, checkpoint=str(folder), replace_classifier=False)


@pytest.mark.parametrize("arch", ARCHS)
def test_input_spec_from_processor_config(arch, tmp_path):
    processor = {"image_mean": [0.4, 0.5, 0.6], "image_std": [0.2, 0.25, 0.3],
                 "rescale_factor": 1 / 255, "do_rescale": True, "do_normalize": True,
                 "size": {"shortest_edge": 40}, "crop_size": {"height": 32, "width": 32}}
    folder = save_tiny_checkpoint(arch, tmp_path / "ckpt", processor=processor)
    got = getattr(models, arch).input_spec({"checkpoint": str(folder)})
    if arch == "vivit":  # ViViT's processors rescale with an offset: x * r - 1
        assert got.mean == pytest.approx([(m + 1) * 255 for m in processor["image_mean"]])
    else:
        assert got.mean == pytest.approx([m * 255 for m in processor["image_mean"]])
    assert got.std == pytest.approx([s * 255 for s in processor["image_std"]])
    assert (got.resize, got.crop, got.frames) == (40, 32, 4)
    assert got.fixed_size == (arch != "vjepa2")
    # the built model normalizes with those values
    built = getattr(models, arch)(num_classes=K, checkpoint=str(folder))
    assert built.preprocessor.mean.flatten().tolist() == pytest.approx(list(got.mean), rel=1e-5)


def test_input_spec_offset_processor_as_vivit_checkpoints_write_it(tmp_path):
    """google/vivit-*'s preprocessor_config.json: rescale 1/127.5 with offset, mean 0.5."""
    processor = {"image_mean": [0.5] * 3, "image_std": [0.5] * 3, "rescale_factor": 1 / 127.5,
                 "offset": True, "size": {"shortest_edge": 256},
                 "crop_size": {"height": 224, "width": 224}}
    folder = save_tiny_checkpoint("vivit", tmp_path / "v", processor=processor)
    got = models.vivit.input_spec({"checkpoint": str(folder)})
    # x/127.5 - 1 then (v - 0.5) / 0.5  ==  (x - 191.25) / 63.75
    assert got.mean == pytest.approx([191.25] * 3) and got.std == pytest.approx([63.75] * 3)


def test_config_keys_checked_against_the_signature():
    with pytest.raises(ValueError, match=r"config\.hiden_size is not a VideoMAEConfig parameter; "
                                         r"did you mean 'hidden_size'"):
        models.videomae(num_classes=2, config={**TINY["videomae"], "hiden_size": 8})
    with pytest.raises(ValueError, match="give checkpoint"):
        models.videomae(num_classes=2)
    with pytest.raises(ValueError, match="config.model_type"):
        models.hf_video(num_classes=2, config=TINY["videomae"])
    any_model = models.hf_video(num_classes=2, config={**TINY["timesformer"],
                                                      "model_type": "timesformer"})
    assert type(any_model.net).__name__ == "TimesformerForVideoClassification"


def test_wrong_architecture_for_checkpoint_names_the_right_type(tmp_path):
    folder = save_tiny_checkpoint("timesformer", tmp_path / "t")
    with pytest.raises(ValueError, match="is a 'timesformer' model, not videomae: use type = "
                                         "'timesformer'"):
        models.videomae(num_classes=2, checkpoint=str(folder))
    assert models.hf_video(num_classes=2, checkpoint=str(folder)).num_classes == 2


def test_missing_folder_and_not_a_model_folder(tmp_path):
    from zelda_transformers.source import SourceError

    with pytest.raises(SourceError, match="no such folder"):
        models.videomae(num_classes=2, checkpoint=str(tmp_path / "nope" / "x"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="has no config.json"):
        models.videomae(num_classes=2, checkpoint=str(tmp_path / "empty"))


@pytest.mark.parametrize("arch", ARCHS)
def test_lr_layers_embeddings_layers_head(arch):
    model = tiny(arch)
    layers = model.lr_layers()
    assert set(layers) == {n for n, _ in model.named_parameters()}
    head = max(layers.values())
    assert head == TINY[arch]["num_hidden_layers"] + 1
    assert layers["net.classifier.weight"] == head
    emb = [n for n in layers if ".embeddings." in n and ".predictor." not in n]
    assert emb and all(layers[n] == 0 for n in emb)
    for i in range(TINY[arch]["num_hidden_layers"]):
        assert any(v == i + 1 for v in layers.values()), f"no parameter in layer {i}"


@pytest.mark.parametrize("arch", ["videomae", "vjepa2"])
def test_gradient_checkpointing_same_gradients(arch):
    x, y = clips(), torch.tensor([1, 0])
    a, b = tiny(arch).train(), tiny(arch).train()
    b.enable_gradient_checkpointing()
    assert b.net.is_gradient_checkpointing
    a.loss(x, y).backward()
    b.loss(x, y).backward()
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        if p.grad is not None:
            assert torch.allclose(p.grad, q.grad, atol=1e-5), n


def test_drop_path_in_the_config_and_refused_where_absent():
    model = models.timesformer(num_classes=2, config=TINY["timesformer"], drop_path=0.2)
    assert model.net.config.drop_path_rate == 0.2
    rates = [m.drop_prob for m in model.net.modules() if hasattr(m, "drop_prob")]
    assert rates and max(rates) == pytest.approx(0.2)  # the layers drop, not only the config
    assert models.vjepa2(num_classes=2, config=TINY["vjepa2"], drop_path=0.1).net.config.drop_path_rate == 0.1
    with pytest.raises(ValueError, match="no stochastic depth"):
        models.videomae(num_classes=2, config=TINY["videomae"], drop_path=0.1)


def test_sdpa_attention_where_the_architecture_has_it():
    for arch in ("videomae", "vjepa2", "vivit"):
        assert tiny(arch).net.config._attn_implementation == "sdpa", arch


def test_processor_defaults_from_config_only():
    got = models.videomae.input_spec({"config": TINY["videomae"]})
    assert got.crop == 32 and got.frames == 4 and got.fixed_size
    assert "processor defaults" in got.source
    json.dumps(got.mean)


@pytest.mark.parametrize("arch", ["videomae", "vivit"])
def test_engine_layer_decay_and_gradient_checkpointing_use_the_model_hooks(arch):
    """train.finetune.layer_decay scales each encoder layer's lr by its lr_layers() index;
    train.gradient_checkpointing switches the model's checkpointing on."""
    from zelda_core._engine.finetune import Finetune, enable_gradient_checkpointing

    model = tiny(arch)
    groups = Finetune.from_table({"layer_decay": 0.5}).param_groups(model, {"lr": 1.0})
    lr_of = {n: g.get("lr", 1.0) for g in groups for n, p in model.named_parameters()
             if any(p is q for q in g["params"])}
    top = TINY[arch]["num_hidden_layers"] + 1
    assert lr_of["net.classifier.weight"] == pytest.approx(1.0)
    emb = next(n for n in lr_of if ".embeddings." in n)
    assert lr_of[emb] == pytest.approx(0.5 ** top)
    layer0 = next(n for n in lr_of if ".layer.0." in n or ".layers.0." in n)
    assert lr_of[layer0] == pytest.approx(0.5 ** (top - 1))
    enable_gradient_checkpointing(model)
    assert model.net.is_gradient_checkpointing
