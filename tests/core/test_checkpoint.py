"""Checkpoints: atomic writes under a crash, weights_only loading, keep-N, round trip, predict."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from engine_util import make_dataset, quick_config, small_recipe, toy_batches, toy_model  # noqa: E402
from media import make_video  # noqa: E402

from zelda_core._engine import checkpoint as ckpt_io  # noqa: E402
from zelda_core._engine.assemble import build_training  # noqa: E402
from zelda_core._engine.errors import CheckpointError  # noqa: E402
from zelda_core._engine.loop import Trainer  # noqa: E402


def test_atomic_save_survives_a_crash_mid_write(tmp_path, monkeypatch):
    path = tmp_path / "last.pth"
    ckpt_io.save_checkpoint({"epoch": 1, "model": {"w": torch.ones(3)}}, path)
    real_save = torch.save

    def crashing_save(obj, f, *a, **kw):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(CheckpointError, match="cannot write the checkpoint .*disk full"):
        ckpt_io.save_checkpoint({"epoch": 2, "model": {"w": torch.zeros(3)}}, path)
    monkeypatch.setattr(torch, "save", real_save)
    ck = ckpt_io.load_checkpoint(path)
    assert ck["epoch"] == 1 and torch.equal(ck["model"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pth"]  # no temp file left behind


def test_atomic_save_crash_before_replace_keeps_old(tmp_path, monkeypatch):
    path = tmp_path / "best.pth"
    ckpt_io.save_checkpoint({"epoch": 1}, path)

    def killed(*a, **kw):
        raise KeyboardInterrupt  # the process dies between write and rename

    monkeypatch.setattr(ckpt_io.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        ckpt_io.save_checkpoint({"epoch": 2}, path)
    monkeypatch.undo()
    assert ckpt_io.load_checkpoint(path)["epoch"] == 1
    assert len(list(tmp_path.iterdir())) == 1


def test_torn_or_foreign_files_give_clear_errors(tmp_path):
    bad = tmp_path / "torn.pth"
    bad.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*torn.pth"):
        ckpt_io.load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="not found"):
        ckpt_io.load_checkpoint(tmp_path / "none.pth")

    import argparse

    evil = tmp_path / "evil.pth"
    torch.save({"model": argparse.Namespace(code="pickled object")}, evil)
    with pytest.raises(CheckpointError, match="weights_only"):
        ckpt_io.load_checkpoint(evil)


def test_trainer_checkpoint_is_self_describing_and_weights_only(tmp_path):
    torch.manual_seed(0)
    recipe = {"seed": 0, "model": {"type": "recognizer", "head": {"type": "cls_head", "num_classes": 2}}}
    t = Trainer(build_training(toy_model(), config=quick_config(epochs=3, keep_checkpoints=1),
                train_batches=lambda e, s=0: toy_batches(e, s, n_batches=2), steps_per_epoch=2,
                work_dir=tmp_path, classes=["dark", "bright"], recipe=recipe, recipe_toml="seed = 0\n"))
    t.fit()
    ck = torch.load(tmp_path / "checkpoints" / "last.pth", weights_only=True)
    assert ck["format"] == "zelda-checkpoint/1" and ck["epoch"] == 3
    assert ck["classes"] == ["dark", "bright"] and ck["recipe"] == recipe
    assert ck["recipe_toml"] == "seed = 0\n" and "torch" in ck["versions"]
    assert set(ck) >= {"model", "optimizer", "scheduler", "scaler", "rng", "global_step", "best"}
    assert [p.name for p in ckpt_io.epoch_checkpoints(tmp_path / "checkpoints")] == ["epoch_3.pth"]


def test_init_from_reports_missing_unexpected_and_mismatched(tmp_path):
    src = toy_model(num_classes=3)
    state = src.state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["backbone.conv.1.bias"]
    torch.save({"model": state}, tmp_path / "w.pth")
    t = Trainer(build_training(toy_model(num_classes=2), config=quick_config(epochs=1),
                train_batches=lambda e, s=0: toy_batches(e, s, n_batches=1), steps_per_epoch=1,
                work_dir=tmp_path / "run"))
    report = t.init_from(tmp_path / "w.pth")
    assert report["unexpected"] == ["extra.weight"]
    assert report["missing"] == ["backbone.conv.1.bias", "head.fc.weight", "head.fc.bias"]
    assert report["shape_mismatch"] == ["head.fc.weight", "head.fc.bias"]
    assert torch.equal(t.model.backbone.conv1[0].weight, src.backbone.conv1[0].weight)
    assert "missing keys" in (tmp_path / "run" / "train.log").read_text()


def test_round_trip_and_predict(tmp_path):
    from zelda_core._deploy.predict import predict_videos
    from zelda_core._engine.build import model_from_checkpoint
    from zelda_core._engine.train import run_training
    from zelda_core._recipe import load_recipe

    root = make_dataset(tmp_path / "data")
    recipe = load_recipe(small_recipe(tmp_path / "r.toml", root, tmp_path / "work", epochs=2))
    summary = run_training(recipe)
    best = tmp_path / "work" / "checkpoints" / "best.pth"
    assert summary["best_checkpoint"] == str(best)
    model, ck = model_from_checkpoint(best, device="cpu")
    assert ck["classes"] == ["dark", "bright"] and ck["recipe"]["model"]["head"]["num_classes"] == 2
    assert "[model.head]" in ck["recipe_toml"]
    video = make_video(tmp_path / "clip.mp4", frames=24, pattern="bright")
    out = predict_videos(best, [str(video), str(tmp_path / "missing.mp4")], top_k=5, device="cpu")
    preds = out[0]["predictions"]
    assert [p["label"] for p in preds] in (["bright", "dark"], ["dark", "bright"])  # top-5 capped at 2
    assert sum(p["probability"] for p in preds) == pytest.approx(1.0, abs=1e-5)
    assert out[1] == {"video": str(tmp_path / "missing.mp4"), "error": "file not found"}
