"""Fine-tuning controls ([train.finetune], train.init_from) on the tiny Conv3d recognizer."""

from __future__ import annotations

import pytest
import torch
from engine_util import quick_config, toy_batches, toy_model

from zelda_core._engine.assemble import build_training  # noqa: E402
from zelda_core._engine.config import train_errors
from zelda_core._engine.loop import Trainer
from zelda_core._errors import RecipeError


def _trainer(tmp_path, model, **cfg):
    config = quick_config(**cfg)
    return Trainer(build_training(model, config=config, train_batches=toy_batches, steps_per_epoch=4,
                   work_dir=tmp_path))


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_freeze_then_unfreeze_with_lr_multipliers(tmp_path):
    """Backbone frozen for epoch 1 (bit-for-bit unchanged, weight decay included), trained
    in epoch 2; the head's group has 10x the learning rate."""
    torch.manual_seed(0)
    model = toy_model()
    trainer = _trainer(tmp_path, model, epochs=1,
                       optimizer={"type": "AdamW", "lr": 1e-3, "weight_decay": 0.1},
                       finetune={"freeze": ["backbone.*"], "unfreeze_after": 1,
                                 "lr_mult": {"head.*": 10.0}})
    lrs = sorted(g["lr"] for g in trainer.optimizer.param_groups)
    assert lrs == pytest.approx([1e-3, 1e-2])
    before = _snapshot(model)
    trainer.fit()
    after = _snapshot(model)
    params = dict(model.named_parameters())
    for key in params:
        if key.startswith("backbone."):
            assert torch.equal(before[key], after[key]), key
        else:
            assert not torch.equal(before[key], after[key]), key
    # epoch 2 (resumed from epoch 1's checkpoint) trains the backbone
    trainer2 = _trainer(tmp_path, model, epochs=2,
                        optimizer={"type": "AdamW", "lr": 1e-3, "weight_decay": 0.1},
                        finetune={"freeze": ["backbone.*"], "unfreeze_after": 1,
                                  "lr_mult": {"head.*": 10.0}})
    trainer2.fit(resume=tmp_path / "checkpoints" / "last.pth")
    assert not torch.equal(after["backbone.conv.0.weight"], model.backbone.conv[0].weight.detach())


def test_frozen_for_the_whole_run_and_batchnorm_modes(tmp_path):
    """batchnorm = "eval": running statistics fixed, affine weights trained; "frozen": both
    fixed; freeze without unfreeze_after holds every epoch."""
    torch.manual_seed(0)
    model = toy_model()
    before = _snapshot(model)
    _trainer(tmp_path / "a", model, epochs=2, finetune={"batchnorm": "eval",
                                                         "freeze": ["backbone.conv1.0.*"]}).fit()
    after = _snapshot(model)
    assert torch.equal(before["backbone.conv1.1.running_mean"], after["backbone.conv1.1.running_mean"])
    assert not torch.equal(before["backbone.conv1.1.weight"], after["backbone.conv1.1.weight"])
    assert torch.equal(before["backbone.conv1.0.weight"], after["backbone.conv1.0.weight"])

    model = toy_model()
    before = _snapshot(model)
    _trainer(tmp_path / "b", model, epochs=1, finetune={"batchnorm": "frozen"}).fit()
    after = _snapshot(model)
    for key in ("conv1.1.weight", "conv1.1.bias", "conv1.1.running_var", "conv.1.weight"):
        assert torch.equal(before[f"backbone.{key}"], after[f"backbone.{key}"]), key
    assert not torch.equal(before["head.fc.weight"], after["head.fc.weight"])


def test_no_decay_groups(tmp_path):
    model = toy_model()
    trainer = _trainer(tmp_path, model, optimizer={"type": "SGD", "lr": 0.1, "weight_decay": 0.5},
                       finetune={"no_decay": ["norm", "bias"]})
    names = {id(p): n for n, p in model.named_parameters()}
    for group in trainer.optimizer.param_groups:
        for p in group["params"]:
            name = names[id(p)]
            exempt = name.endswith(".bias") or ".1." in name  # conv1.1 / conv.1 are BatchNorm
            assert group["weight_decay"] == (0.0 if exempt else 0.5), name
    assert sum(len(g["params"]) for g in trainer.optimizer.param_groups) == len(names)


def test_pattern_that_matches_nothing_names_real_parameters(tmp_path):
    with pytest.raises(RecipeError, match="'net.layer1.\\*' matches no parameter.*backbone.conv1.0.weight"):
        _trainer(tmp_path, toy_model(), finetune={"freeze": ["net.layer1.*"]})


def test_init_from_maps_skips_and_reports(tmp_path):
    """Keys renamed by regex, a skipped classifier, a 3-class checkpoint into a 2-class
    model (shape mismatch keeps the fresh classifier), unexpected and missing keys."""
    torch.manual_seed(1)
    source = toy_model(num_classes=3)
    state = {f"module.old.{k}": v for k, v in source.state_dict().items()}
    state["module.old.extra"] = torch.zeros(1)
    del state["module.old.backbone.conv.1.bias"]
    path = tmp_path / "ck.pth"
    torch.save({"model": state}, path)
    model = toy_model(num_classes=2)
    fresh_fc = model.head.fc.weight.detach().clone()
    trainer = _trainer(tmp_path, model)
    report = trainer.init_from({"path": str(path), "map": {r"^module\.old\.": ""},
                                "skip": ["backbone.conv1.1.*"]})
    assert torch.equal(model.backbone.conv1[0].weight, source.backbone.conv1[0].weight)
    assert torch.equal(model.head.fc.weight, fresh_fc)
    assert report["shape_mismatch"] == ["head.fc.weight", "head.fc.bias"]
    assert report["unexpected"] == ["extra"]
    assert "backbone.conv.1.bias" in report["missing"]
    assert set(report["skipped"]) >= {"backbone.conv1.1.weight", "backbone.conv1.1.bias"}
    log = (tmp_path / "train.log").read_text()
    assert "head.fc.weight has shape (3, 128) in the checkpoint and (2, 128) here" in log


def test_train_table_errors():
    errs = [str(e) for e in train_errors({"train": {
        "finetune": {"freeze": "net.*", "unfreeze_after": 0, "lr_mult": {"a": -1},
                     "batchnorm": "off", "frozen": 1},
        "init_from": {"map": {"(": "x"}}}})]
    text = "\n".join(errs)
    for needle in ("train.finetune.frozen", "train.finetune.freeze", "train.finetune.unfreeze_after",
                   "train.finetune.lr_mult", "train.finetune.batchnorm", "train.init_from.path",
                   "train.init_from.map"):
        assert needle in text, needle
    assert train_errors({"train": {"init_from": "x.pth", "finetune": {"freeze": ["a"],
                                                                      "unfreeze_after": 2}}}) == []


@pytest.mark.decoder_independent
def test_layer_decay_composes_with_lr_mult_and_no_decay(tmp_path):
    """layer_decay 0.5 over the recognizer's declared layers (conv1 0, conv 1, head 2),
    times lr_mult, with no weight decay on norms and biases; an SGD step moves each
    parameter by exactly its group's lr; the run log lists every group."""
    torch.manual_seed(0)
    model = toy_model(dropout=0.0)
    assert set(model.lr_layers()) == {n for n, _ in model.named_parameters()}
    trainer = _trainer(tmp_path, model, epochs=1, optimizer={"type": "SGD", "lr": 0.1, "weight_decay": 0.5},
                       finetune={"layer_decay": 0.5, "lr_mult": {"backbone.conv.0.*": 3.0},
                                 "no_decay": ["norm", "bias"]})
    expected = {"backbone.conv1.": 0.1 * 0.25, "backbone.conv.0.": 0.1 * 0.5 * 3.0,
                "backbone.conv.1.": 0.1 * 0.5, "head.": 0.1}
    names = {id(p): n for n, p in model.named_parameters()}
    layers = [g["layer"] for g in trainer.optimizer.param_groups]
    assert layers == sorted(layers) and set(layers) == {0, 1, 2}
    for group in trainer.optimizer.param_groups:
        for p in group["params"]:
            name = names[id(p)]
            lr = next(v for k, v in expected.items() if name.startswith(k))
            assert group["lr"] == pytest.approx(lr), name
            exempt = name.endswith(".bias") or ".1." in name
            assert group["weight_decay"] == (0.0 if exempt else 0.5), name
    # one SGD step (no momentum) moves a parameter by lr x (grad + wd x w)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    batch = toy_batches(0)[0]
    model.train()
    trainer.finetune.prepare_epoch(model, 0)
    model.loss(batch["inputs"], batch["label"]).backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    trainer.optimizer.step()
    for name, p in model.named_parameters():
        lr = next(v for k, v in expected.items() if name.startswith(k))
        wd = 0.0 if name.endswith(".bias") or ".1." in name else 0.5
        step = lr * (grads[name] + wd * before[name])
        torch.testing.assert_close(before[name] - p.detach(), step, rtol=1e-4, atol=1e-7)
    trainer.fit()
    log = (tmp_path / "train.log").read_text()
    assert "layer_decay 0.5: layer i of 0..2 trains at lr x 0.5^(2 - i)" in log
    assert "group 0: layer 0," in log and "lr 0.025, weight decay 0.5" in log


@pytest.mark.decoder_independent
def test_layer_decay_needs_a_model_that_declares_layers(tmp_path):
    class NoLayers(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = toy_model()

        def forward(self, x):
            return self.inner(x)

    with pytest.raises(RecipeError, match="train.finetune.layer_decay needs a model that declares"):
        _trainer(tmp_path, NoLayers(), finetune={"layer_decay": 0.75})
    text = "\n".join(str(e) for e in train_errors({"train": {"finetune": {"layer_decay": 1.5}}}))
    assert "train.finetune.layer_decay" in text and "(0, 1]" in text
