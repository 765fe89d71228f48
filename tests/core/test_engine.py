"""The training loop: learning, resume == uninterrupted, NaN guard, devices, schedules."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")

from engine_util import quick_config, toy_batches, toy_model  # noqa: E402
from zelda_metrics.classification import TopKAccuracy  # noqa: E402

from zelda_core._engine.assemble import build_training  # noqa: E402
from zelda_core._engine.config import parse_train_config, train_errors  # noqa: E402
from zelda_core._engine.device import amp_dtype, make_scaler, select_device  # noqa: E402
from zelda_core._engine.errors import TrainingError  # noqa: E402
from zelda_core._engine.loop import Trainer  # noqa: E402
from zelda_core._errors import RecipeError, ZeldaError  # noqa: E402


def make_trainer(tmp_path, cfg, *, seed=0, dropout=0.5, n_batches=4, val=True, name="run"):
    torch.manual_seed(seed)
    model = toy_model(dropout=dropout)
    return Trainer(build_training(
        model, config=cfg, train_batches=lambda e, s=0: toy_batches(e, s, n_batches=n_batches),
        steps_per_epoch=n_batches,
        val_batches=(lambda: toy_batches(99, n_batches=2)) if val else None,
        metrics={"acc": TopKAccuracy(k=[1])}, work_dir=tmp_path / name, classes=["dark", "bright"],
        recipe={"model": {"type": "recognizer"}},
    ))


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_loss_falls_and_val_accuracy(tmp_path):
    t = make_trainer(tmp_path, quick_config(epochs=3), dropout=0.0)
    result = t.fit()
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in lines if r["type"] == "train"]
    assert len(train) == 12 and {"loss", "lr", "data_time", "step_time"} <= set(train[0])
    epochs = [r for r in lines if r["type"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    assert all(r["clips_per_s"] > 0 and 0 <= r["data_share"] <= 1 for r in epochs)
    assert "gpu_mem_mib" not in epochs[0]  # CPU run
    first, last = train[0]["loss"], sum(r["loss"] for r in train[-4:]) / 4
    assert last < first * 0.7, (first, last)
    assert result.last_metrics["top1"] == 1.0 and result.best_metric == "top1"
    ck = tmp_path / "run" / "checkpoints"
    assert (ck / "best.pth").exists() and (ck / "last.pth").exists()
    assert sorted(p.name for p in ck.glob("epoch_*.pth")) == ["epoch_2.pth", "epoch_3.pth"]  # keep 2
    assert "epoch 3/3" in (tmp_path / "run" / "train.log").read_text()


def test_resume_equals_uninterrupted(tmp_path):
    cfg = dict(optimizer={"type": "SGD", "lr": 0.05, "momentum": 0.9},
               scheduler={"type": "StepLR", "step_size": 1, "gamma": 0.5},
               warmup={"iters": 3, "start_factor": 0.1})
    full = make_trainer(tmp_path, quick_config(epochs=3, **cfg), name="full")
    full.fit()
    part = make_trainer(tmp_path, quick_config(epochs=1, **cfg), name="part")
    part.fit()
    # a fresh process: different init seed, then resume restores everything
    resumed = make_trainer(tmp_path, quick_config(epochs=3, **cfg), seed=123, name="part")
    resumed.fit(resume=tmp_path / "part" / "checkpoints" / "last.pth")
    a, b = weights(full.model), weights(resumed.model)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-6), k
    assert resumed.global_step == full.global_step == 12
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(full.optimizer.param_groups[0]["lr"])


def test_mid_epoch_resume_equals_uninterrupted(tmp_path):
    cfg = dict(optimizer={"type": "SGD", "lr": 0.05, "momentum": 0.9},
               scheduler={"type": "CosineAnnealingLR", "interval": "iter"}, checkpoint_iters=2)
    full = make_trainer(tmp_path, quick_config(epochs=2, **cfg), n_batches=5, name="full")
    full.fit()
    # the same run, killed in epoch 2 while training batch 4; dropout draws from the RNG
    crash = make_trainer(tmp_path, quick_config(epochs=2, **cfg), n_batches=5, name="crash")
    batches = crash.train_batches

    def dying(epoch, start=0):
        for i, batch in enumerate(batches(epoch, start), start=start):
            if epoch == 1 and i == 3:
                raise KeyboardInterrupt
            yield batch

    crash.train_batches = dying
    with pytest.raises(KeyboardInterrupt):
        crash.fit()
    last = tmp_path / "crash" / "checkpoints" / "last.pth"
    ck = torch.load(last, weights_only=True)
    assert (ck["epoch"], ck["iter_in_epoch"], ck["global_step"]) == (1, 2, 7)
    resumed = make_trainer(tmp_path, quick_config(epochs=2, **cfg), n_batches=5, seed=123, name="crash")
    resumed.fit(resume=last)
    a, b = weights(full.model), weights(resumed.model)
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-6), k
    assert resumed.global_step == full.global_step == 10
    assert "1 epoch(s) and 2 batch(es) of the next done" in (tmp_path / "crash" / "train.log").read_text()


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    t = make_trainer(tmp_path, quick_config(epochs=3))
    t.fit_epochs = None
    calls = {"n": 0}
    orig = t.model.loss

    def loss(inputs, labels):
        calls["n"] += 1
        out = orig(inputs, labels)
        return out * float("nan") if calls["n"] > 5 else out  # breaks in epoch 2

    t.model.loss = loss
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 2, iteration 2.*last good checkpoint"):
        t.fit()
    last = tmp_path / "run" / "checkpoints" / "last.pth"
    ck = torch.load(last, weights_only=True)
    assert ck["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())
    assert not (tmp_path / "run" / "checkpoints" / "epoch_2.pth").exists()


def test_grad_accumulation_and_clipping(tmp_path):
    t = make_trainer(tmp_path, quick_config(epochs=1, accumulate=3, clip_grad_norm=0.5), n_batches=4)
    t.fit()
    assert t.global_step == 2  # 3 + 1 (the epoch's tail is flushed)


def test_scheduler_fills_lengths_and_warmup(tmp_path):
    t = make_trainer(tmp_path, quick_config(epochs=2, optimizer={"type": "AdamW", "lr": 0.01},
                                            scheduler={"type": "CosineAnnealingLR", "interval": "iter"},
                                            warmup={"epochs": 0.5}), val=False)
    assert t.scheduler.scheduler.T_max == 8 and t.warmup.iters == 2
    t.fit()
    lrs = [json.loads(x)["lr"] for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
           if '"train"' in x]
    assert lrs[0] == pytest.approx(1e-5) and lrs[1] > lrs[0]
    assert lrs[-1] < 0.001  # cosine down to ~0


def test_device_auto_is_cpu_here_and_errors():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert select_device("auto").type == "cpu"
    with pytest.raises(ZeldaError, match="CUDA is not available"):
        select_device("cuda:0")
    dev = torch.device("cpu")
    assert amp_dtype("auto", dev) is None
    assert amp_dtype("bf16", dev) is torch.bfloat16
    with pytest.raises(ZeldaError, match="needs a CUDA device"):
        amp_dtype("fp16", dev)
    assert not make_scaler(dev, None).is_enabled()


def test_bf16_autocast_on_cpu_trains(tmp_path):
    t = make_trainer(tmp_path, quick_config(epochs=1, amp="bf16", channels_last=True), val=True)
    r = t.fit()
    assert math.isfinite(r.last_metrics["top1"])
    assert t.model.backbone.conv1[0].weight.is_contiguous(memory_format=torch.channels_last_3d)


def test_skipped_files_are_logged(tmp_path):
    cfg = quick_config(epochs=1)
    torch.manual_seed(0)

    def batches(epoch, start=0):
        out = toy_batches(epoch, start, n_batches=2)
        out[0]["skipped"] = [("/data/broken.mp4", "moov atom not found")]
        return out

    t = Trainer(build_training(toy_model(), config=cfg, train_batches=batches, steps_per_epoch=2, work_dir=tmp_path))
    r = t.fit()
    assert r.skipped == [("/data/broken.mp4", "moov atom not found")]
    assert "skipped /data/broken.mp4: moov atom not found" in (tmp_path / "train.log").read_text()


def test_train_config_validation():
    errs = train_errors({"train": {"epochs": 0, "optimzer": {}, "amp": "fp8", "device": "gpu"}})
    text = "\n".join(map(str, errs))
    assert "optimizer" in text and "did you mean" in text
    assert "train.amp" in text and "train.device" in text
    with pytest.raises(RecipeError, match="train.optimizer.type.*unknown optimizer type 'Adma'; did you mean"):
        parse_train_config({"optimizer": {"type": "Adma", "lr": 0.1}})
    with pytest.raises(RecipeError, match="exactly one of iters"):
        parse_train_config({"warmup": {"start_factor": 0.1}})
    assert parse_train_config(None).epochs == 10


def test_tensorboard_used_when_installed(tmp_path, monkeypatch):
    import sys
    import types

    calls = []

    class FakeWriter:
        def __init__(self, logdir):
            calls.append(("init", logdir))

        def add_scalar(self, tag, value, step):
            calls.append((tag, value, step))

        def close(self):
            calls.append(("close",))

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=FakeWriter))
    from zelda_core._engine.log import RunLogger

    with RunLogger(tmp_path) as log:
        assert log.loggers.names() == ["jsonl", "tensorboard"]
        log.record("train", 3, epoch=1, loss=0.5, lr=0.01)
    assert calls[0] == ("init", str(tmp_path / "tensorboard"))
    assert ("train/loss", 0.5, 3) in calls and ("train/lr", 0.01, 3) in calls and calls[-1] == ("close",)
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["loss"] == 0.5
