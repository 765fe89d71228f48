"""recipes/kinetics_tiny_finetune.toml: VideoMAE's fine-tuning stack on torchvision's
R(2+1)D-18 (RandAugment, random erasing, repeated augmentation, mixup/cutmix, label
smoothing, class weights, layer decay, EMA, 5 x 3 test views). It passes ``recipe check``,
trains 2 epochs on kinetics2_tiny videos on the CPU and resumes exactly after a kill -9
mid-epoch with every stochastic feature on. Small clips (4 x 32 x 32) keep it quick; the
weights are torchvision's own network saved locally (no network)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from extras import need

need("torchvision", "torchvision")

from deploy_helpers import link_kinetics2_subset  # noqa: E402
from kill_resume import assert_same_weights, kill_mid_epoch, records  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
RECIPE = REPO / "recipes" / "kinetics_tiny_finetune.toml"
SMALL = [  # the recipe's own pipelines at 4 x 32 x 32 (R(2+1)D takes any size)
    "data.train.pipeline.0.clip_len=4", "data.train.pipeline.2.size=[40, 53]",
    "data.train.pipeline.3.size=32",
    "data.val.pipeline.0.clip_len=4", "data.val.pipeline.2.size=[40, 53]",
    "data.val.pipeline.3.crop_size=32",
    "data.test.pipeline.0.clip_len=4", "data.test.pipeline.0.num_clips=2",
    "data.test.pipeline.2.size=32", "data.test.pipeline.3.crop_size=32",
    "data.batch_size=2", "data.workers=0", "train.device=\"cpu\"",
    "data.train.label_map=\"label_map.txt\"",
]


def _zelda(*args: str) -> list[str]:
    return [sys.executable, "-m", "zelda_core", *args]


def _sets(*pairs: str) -> list[str]:
    return [a for p in pairs for a in ("--set", p)]


@pytest.fixture(scope="module")
def k2(tmp_path_factory) -> tuple[Path, Path]:
    """Six train and two val videos of kinetics2_tiny, and R(2+1)D-18's weights as a file."""
    import torchvision.models.video as tvv

    src = Path(os.environ.get("ZELDA_SHARED", REPO.parent / "shared")) / "data" / "kinetics2_tiny"
    if not src.is_dir():
        pytest.skip(f"{src} not found (the shared kinetics2_tiny data)")
    tmp = tmp_path_factory.mktemp("k2ft")
    root = link_kinetics2_subset(src, tmp / "k2", n_train=6, n_val=2)
    torch.manual_seed(0)
    pth = tmp / "r2plus1d_18.pth"
    torch.save(tvv.r2plus1d_18().state_dict(), pth)
    return root, pth


def test_finetune_recipe_checks():
    out = subprocess.run(_zelda("recipe", "check", str(RECIPE)), capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr


@pytest.mark.slow
def test_finetune_recipe_trains_two_epochs_and_tests_on_fifteen_views(k2, tmp_path):
    """Every feature on, as written: 2 epochs, the raw weights and their average validated
    each epoch, the layer-decayed groups and the targets in the log; then ``zelda test`` on
    the recipe's 5 x 3 views (here 2 x 3) with a dump."""
    root, pth = k2
    work = tmp_path / "work"
    out = subprocess.run(
        _zelda("run", str(RECIPE), "--work-dir", str(work),
               *_sets(f"data.root=\"{root}\"", f"model.weights=\"{pth}\"", *SMALL)),
        cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    recs = records(work)
    assert [r["epoch"] for r in recs if r["type"] == "val"] == [1, 2]
    assert [r["epoch"] for r in recs if r["type"] == "val_ema"] == [1, 2]
    steps = [r for r in recs if r["type"] == "train"]
    assert steps and all(r["loss"] == r["loss"] for r in steps)  # finite, no NaN
    assert len([r for r in recs if r["type"] == "epoch"]) == 2
    log = (work / "train.log").read_text()
    assert "layer" in log and "finetune: group" in log, log[:3000]
    assert "train targets: label smoothing 0.1" in log and "Mixup(mixup_alpha=0.8" in log, log[:3000]
    assert "ema: weight average with decay 0.99" in log
    resolved = (work / "resolved.toml").read_text()
    assert "repeated_augmentation = 2" in resolved
    dump = tmp_path / "pred.jsonl"
    test = subprocess.run(_zelda("test", str(work / "resolved.toml"), "--checkpoint",
                                 str(work / "checkpoints" / "best.pth"), "--dump", str(dump)),
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert test.returncode == 0, test.stderr[-3000:]
    lines = [json.loads(x) for x in dump.read_text().splitlines()]
    assert len(lines) == 2 and all(x["views"] == 6 for x in lines), lines


@pytest.mark.slow
def test_finetune_recipe_resumes_exactly_after_kill9_with_everything_on(k2, tmp_path):
    """kill -9 mid-epoch, --resume: the same weights, the same weight average and the same
    loss at every step (so the same augmentations, lambda and boxes) as a run never
    interrupted; class-balanced sampling and gradient checkpointing on as well."""
    root, pth = k2
    common = _sets(f"data.root=\"{root}\"", f"model.weights=\"{pth}\"", *SMALL,
                   "train.checkpoint_iters=1", "train.epochs=1", "train.ema.warmup=2",
                   'data.class_balance="inverse_frequency"', "train.gradient_checkpointing=true",
                   "data.train.pipeline.6.p=1.0", "data.val.pipeline.0.num_clips=1")
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(_zelda("run", str(RECIPE), "--work-dir", str(straight), *common),
                   cwd=tmp_path, check=True, capture_output=True, timeout=900)
    kill_mid_epoch(_zelda("run", str(RECIPE), "--work-dir", str(killed), *common), killed, tmp_path,
                   timeout=600)
    ck = torch.load(killed / "checkpoints" / "last.pth", weights_only=True)
    assert ck["epoch"] == 0 and 0 < ck["iter_in_epoch"] < 6, "the kill must land mid-epoch"
    res = subprocess.run(_zelda("run", str(RECIPE), "--work-dir", str(killed), "--resume", *common),
                         cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    a, b = assert_same_weights(straight, killed)
    assert a["ema"]["updates"] == b["ema"]["updates"] > 0
    loss = [r["loss"] for r in records(straight) if r["type"] == "train"]
    assert loss and [r["loss"] for r in records(killed) if r["type"] == "train"] == loss
