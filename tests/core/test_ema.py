"""train.ema: the weight average (torch.optim.swa_utils), validated beside the trained
weights, chosen for best/test/export/predict, kept in checkpoints."""

from __future__ import annotations

import json

import pytest
import torch
from engine_util import quick_config, toy_batches, toy_model

from zelda_core._engine import checkpoint as ckpt_io
from zelda_core._engine.assemble import build_training
from zelda_core._engine.build import load_weights
from zelda_core._engine.config import train_errors
from zelda_core._engine.loop import Trainer

pytestmark = pytest.mark.decoder_independent


class MeanScore:
    """A metric that moves with every weight: the mean score of class 1."""

    def reset(self):
        self.values = []

    def update(self, scores, labels):
        self.values.append(scores[:, 1].double())

    def compute(self):
        return {"score1": float(torch.cat(self.values).mean())}


def _trainer(tmp_path, use="ema", epochs=3, warmup=3):
    torch.manual_seed(0)
    config = quick_config(epochs=epochs, optimizer={"type": "SGD", "lr": 0.02, "momentum": 0.9},
                          ema={"decay": 0.7, "warmup": warmup, "use": use}, best_metric="score1")
    parts = build_training(toy_model(dropout=0.0), config=config, train_batches=toy_batches, steps_per_epoch=4,
                           val_batches=lambda: toy_batches(99), val_steps=4,
                           metrics={"m": MeanScore()}, work_dir=tmp_path)
    return Trainer(parts)


def test_ema_follows_the_formula_with_its_warmup(tmp_path):
    """After each optimizer step: ema = d_t ema + (1 - d_t) w, the first update a copy,
    d_t = decay x min(1, t / warmup); buffers (BatchNorm statistics) averaged too."""
    trainer = _trainer(tmp_path, epochs=1)
    seen = []
    update = trainer.ema.update
    trainer.ema.update = lambda model: (seen.append({k: v.detach().clone() for k, v in model.state_dict().items()}),
                                        update(model))
    trainer.fit()
    assert len(seen) == 4 and trainer.ema.updates == 4
    expected = dict(seen[0])
    for t, weights in enumerate(seen[1:], start=1):
        d = 0.7 * min(1.0, t / 3)
        expected = {k: (d * expected[k] + (1 - d) * w) if w.is_floating_point() else w for k, w in weights.items()}
    ema = trainer.ema.module.state_dict()
    for key, value in expected.items():
        if value.is_floating_point():
            torch.testing.assert_close(ema[key], value, rtol=1e-5, atol=1e-6, msg=key)
    assert not torch.equal(ema["head.fc.weight"], trainer.model.state_dict()["head.fc.weight"])
    ck = torch.load(tmp_path / "checkpoints" / "last.pth", weights_only=True)
    assert ck["ema"]["updates"] == 4 and ck["ema"]["decay"] == 0.7 and ck["ema"]["use"] == "ema"
    assert torch.equal(ck["ema"]["model"]["head.fc.weight"], ema["head.fc.weight"])


@pytest.mark.parametrize("use", ["ema", "raw"])
def test_both_weights_validated_best_on_the_chosen(tmp_path, use):
    """Each epoch logs a val and a val_ema record (each its own line in train.log); best
    follows the chosen weights; best.pth's weights for test/export/predict are those."""
    trainer = _trainer(tmp_path, use=use)
    result = trainer.fit()
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    raw = {r["epoch"]: r["score1"] for r in records if r["type"] == "val"}
    ema = {r["epoch"]: r["score1"] for r in records if r["type"] == "val_ema"}
    assert sorted(raw) == sorted(ema) == [1, 2, 3]
    assert all(raw[e] != ema[e] for e in raw)
    chosen = ema if use == "ema" else raw
    best_epoch = max(chosen, key=chosen.get)
    assert (result.best_epoch, result.best_value) == (best_epoch, pytest.approx(chosen[best_epoch]))
    assert result.best_weights == use and result.ema_metrics["score1"] == pytest.approx(ema[3])
    log = (tmp_path / "train.log").read_text()
    assert log.count("| val (ema) score1") == 3
    best = ckpt_io.load_checkpoint(tmp_path / "checkpoints" / "best.pth")
    assert best["epoch"] == best_epoch
    model = toy_model(dropout=0.0)
    load_weights(model, best, "best.pth")  # what zelda test, export and predict load
    want = best["ema"]["model"] if use == "ema" else best["model"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, want[key]), key
    assert not torch.equal(best["ema"]["model"]["head.fc.weight"], best["model"]["head.fc.weight"])


def test_resume_restores_the_average(tmp_path):
    """A run resumed from an epoch checkpoint continues the same average as one never
    stopped; a checkpoint without one starts it at the resumed weights."""
    straight = _trainer(tmp_path / "a", epochs=2)
    straight.fit()
    first = _trainer(tmp_path / "b", epochs=1)
    first.fit()
    second = _trainer(tmp_path / "b", epochs=2)
    second.fit(resume=tmp_path / "b" / "checkpoints" / "last.pth")
    a, b = straight.ema.module.state_dict(), second.ema.module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a) and second.ema.updates == 8

    ck = torch.load(tmp_path / "b" / "checkpoints" / "epoch_1.pth", weights_only=True)
    ck["ema"] = None
    ckpt_io.save_checkpoint(ck, tmp_path / "c.pth")
    third = _trainer(tmp_path / "c", epochs=1)
    third.fit(resume=tmp_path / "c.pth")
    assert third.ema.updates == 0
    assert "holds no weight average: train.ema starts from the resumed weights" in \
        (tmp_path / "c" / "train.log").read_text()


def test_ema_table_errors():
    text = "\n".join(str(e) for e in train_errors({"train": {"ema": {"decay": 1.0, "warmup": -1,
                                                                      "use": "best", "every": 2}}}))
    for needle in ("train.ema.decay", "train.ema.warmup", "train.ema.use", "train.ema.every"):
        assert needle in text, needle
    assert train_errors({"train": {"ema": {}}}) == []


def test_a_run_tests_exports_and_predicts_with_the_average(tmp_path):
    """zelda run with train.ema: the after-training test scores the average of best.pth
    (the test split is the val list: its metrics are the val_ema line's), and the model
    that zelda predict and zelda export build from the checkpoint holds the average."""
    from engine_util import make_dataset, small_recipe

    from zelda_core._engine.build import model_from_checkpoint
    from zelda_core._engine.train import run_training
    from zelda_core._recipe import load_recipe

    root = make_dataset(tmp_path / "data", n_train=4, n_val=2)
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "work", epochs=2, test_split=True,
                          extra='ema = { decay = 0.6 }')
    summary = run_training(load_recipe(recipe, []), plots=False)
    assert summary["best_weights"] == "ema" and set(summary["val_ema"]) == set(summary["val"])
    best = torch.load(tmp_path / "work" / "checkpoints" / "best.pth", weights_only=True)
    model, _ = model_from_checkpoint(tmp_path / "work" / "checkpoints" / "best.pth", device="cpu")
    for key, value in model.state_dict().items():
        assert torch.equal(value, best["ema"]["model"][key]), key
    assert not torch.equal(best["ema"]["model"]["head.fc.weight"], best["model"]["head.fc.weight"])
    assert summary["test"] == pytest.approx(best["ema_metrics"])
