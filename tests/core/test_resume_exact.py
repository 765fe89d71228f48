"""kill -9 mid-epoch, then ``--resume``: the same final weights, weight average (train.ema)
and logs as a run never interrupted, with dropout on and the real DataLoader (workers 0 and
2), in subprocesses; also with every clip-level augmentation, repeated augmentation and
class-balanced sampling on."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from engine_util import make_dataset, small_recipe  # noqa: E402
from kill_resume import assert_same_weights  # noqa: E402
from kill_resume import kill_mid_epoch as _kill_mid_epoch  # noqa: E402
from kill_resume import records as _records  # noqa: E402


def _zelda(*args: str) -> list[str]:
    return [sys.executable, "-m", "zelda_core", *args]


AUGMENTED = ('[{ type = "segment_sample", clip_len = 4 }, { type = "decode" }, '
             '{ type = "resize", size = 40 }, { type = "random_resized_crop" }, '
             '{ type = "resize", size = [32, 32] }, { type = "flip" }, '
             '{ type = "rand_augment", num_ops = 4, magnitude = 7, magnitude_std = 0.5 }, '
             '{ type = "trivial_augment" }, { type = "color_jitter", brightness = 0.4, hue = 0.1 }, '
             '{ type = "grayscale", p = 0.2 }, { type = "random_erasing", p = 0.5, mode = "pixel" }, '
             '{ type = "format_shape" }, { type = "pack" }]')
"""A train pipeline with every clip-level augmentation (each draws from the sample's rng)."""


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])
def test_kill9_mid_epoch_then_resume_is_exact(tmp_path, workers):
    _kill_and_resume(tmp_path, workers, [])


@pytest.mark.slow
@pytest.mark.decoder_independent
def test_resume_is_exact_with_augmentation_and_sampling_on(tmp_path):
    """Repeated augmentation x2 (10 samples per epoch of 5 videos), class-balanced draws
    and every augmentation transform: the same tensors after a kill -9 mid-epoch."""
    _kill_and_resume(tmp_path, 2, ["--set", "data.repeated_augmentation=2",
                                   "--set", 'data.class_balance="inverse_frequency"',
                                   "--set", f"data.train.pipeline={AUGMENTED}"], videos=5)


def _kill_and_resume(tmp_path, workers: int, extra: list[str], videos: int = 10) -> None:
    samples = videos * (2 if extra else 1)  # steps per epoch at batch 1
    root = make_dataset(tmp_path / "data", n_train=videos, n_val=2)
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "unused", epochs=2,
                          extra="checkpoint_iters = 1")
    common = ["--set", f"data.workers={workers}", "--set", "data.batch_size=1",
              "--set", "model.head.dropout=0.5", "--set", "train.device=\"cpu\"",
              "--set", "train.ema={decay = 0.8, warmup = 3}", *extra]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(_zelda("run", str(recipe), "--work-dir", str(straight), *common),
                   cwd=tmp_path, check=True, capture_output=True)
    _kill_mid_epoch(_zelda("run", str(recipe), "--work-dir", str(killed), *common),
                    killed, tmp_path)
    ck = torch.load(killed / "checkpoints" / "last.pth", weights_only=True)
    assert ck["epoch"] == 0 and 0 < ck["iter_in_epoch"] < samples, "the kill must hit epoch 1 mid-way"
    res = subprocess.run(_zelda("run", str(recipe), "--work-dir", str(killed), "--resume", *common),
                         cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr

    last_a, last_b = assert_same_weights(straight, killed)
    assert last_a["ema"]["updates"] == last_b["ema"]["updates"] == 2 * samples  # a step per sample
    assert not torch.equal(last_b["ema"]["model"]["head.fc.weight"], last_b["model"]["head.fc.weight"])

    # the logs read as one run: each (epoch, iter) once, and the same epoch losses
    ra, rb = _records(straight), _records(killed)
    train_b = [(r["epoch"], r["iter"]) for r in rb if r["type"] == "train"]
    assert train_b == [(r["epoch"], r["iter"]) for r in ra if r["type"] == "train"]
    assert len(train_b) == 2 * samples or not extra  # (logged every step here)
    assert [r["loss"] for r in rb if r["type"] == "train"] == [r["loss"] for r in ra if r["type"] == "train"]
    assert [r["loss"] for r in rb if r["type"] == "epoch"] == [r["loss"] for r in ra if r["type"] == "epoch"]
    assert not (killed / ".zelda.lock").exists()  # a run that ends releases the lock
