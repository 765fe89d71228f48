"""``zelda bench train``: model ceiling, loader supply, predicted bound and end-to-end rate."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from engine_util import make_dataset, small_recipe


def test_bench_train_json_on_cpu(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "data", n_train=4, n_val=2)
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "work")
    out = subprocess.run(
        [sys.executable, "-m", "zelda_core", "bench", "train", str(recipe), "--device", "cpu",
         "--batches", "3", "--model-batches", "2", "--set", "data.workers=1", "--json",
         "--set", 'train.batch_transforms=[{type="mixup", cutmix_alpha=1.0}]'],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["device"] == "cpu" and r["batch_size"] == 2 and r["clip_shape"] == [1, 3, 4, 32, 32]
    for key in ("model_ceiling_clips_s", "loader_supply_clips_s", "end_to_end_clips_s"):
        assert r[key] > 0, key
    assert r["predicted_bound"] in ("loader", "model") and 0 <= r["data_share"] <= 1
    assert r["predicted_clips_s"] == min(r["model_ceiling_clips_s"], r["loader_supply_clips_s"])
    assert r["message"].startswith(f"{r['predicted_bound']}-bound by")
    assert not (tmp_path / "work").exists()  # a benchmark writes no run folder
    # the recipe's batch transforms are in the step, and measured against the step without them
    assert r["targets"] == ["batch transform Mixup(mixup_alpha=1.0, cutmix_alpha=1.0, cutmix_minmax=None, "
                            "prob=1.0, switch_prob=0.5, mode='batch')"]
    assert r["model_ceiling_plain_clips_s"] > 0 and r["targets_step_share"] > 0
    assert r["targets_step_difference"] > -1


def test_bench_train_defaults_fit_the_cpu_and_show_progress(tmp_path: Path) -> None:
    """No --batches on the CPU: 20 batches (not the GPU's 200, minutes of silence there),
    with one progress bar on stderr that names the phase and counts every step."""
    root = make_dataset(tmp_path / "data", n_train=4, n_val=2)
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "work")
    out = subprocess.run(
        [sys.executable, "-m", "zelda_core", "bench", "train", str(recipe), "--device", "cpu",
         "--set", "data.workers=0", "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["batches"] == 20 and r["model_batches"] == 20
    total = 1 + 2 * 20 + 3 + 20
    for phase in ("loader supply", "model ceiling", "end to end"):
        assert f"bench train: {phase}" in out.stderr, out.stderr[-2000:]
    assert re.search(rf"\| \d+/{total} \[\d\d:\d\d<\d\d:\d\d", out.stderr), out.stderr[-2000:]  # ETA


def _installed_decoders() -> list[str]:
    import importlib.util

    libs = {"pyav": "av", "decord": "decord", "torchcodec": "torchcodec"}
    return [d for d, lib in libs.items() if importlib.util.find_spec(lib)]


@pytest.mark.decoder_independent
def test_auto_decoder_measures_each_backend_and_uses_the_cheapest(tmp_path: Path) -> None:
    """data.decoder = "auto": every installed decoder's loader supply is measured on the
    recipe's own videos, the highest is used for the benchmark, and the report says which
    and why (a decoder that cannot run here is left out with its reason)."""
    root = make_dataset(tmp_path / "data", n_train=4, n_val=2)
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "work")
    out = subprocess.run(
        [sys.executable, "-m", "zelda_core", "bench", "train", str(recipe), "--device", "cpu",
         "--batches", "2", "--model-batches", "2", "--set", "data.workers=0",
         "--set", 'data.decoder="auto"', "--json"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    choice = r["decoder_choice"]
    measured = choice["loader_supply_clips_s"]
    assert set(_installed_decoders()) <= set(measured) | set(choice["skipped"])
    assert measured and all(v > 0 for v in measured.values())
    assert choice["chosen"] == max(measured, key=measured.get) == r["decoder"]
    assert choice["message"].startswith(f"decoder auto: {choice['chosen']}, the highest loader supply")
    text = subprocess.run(
        [sys.executable, "-m", "zelda_core", "bench", "train", str(recipe), "--device", "cpu",
         "--batches", "1", "--model-batches", "1", "--set", "data.workers=0",
         "--decoder", "auto"], capture_output=True, text=True, timeout=600)
    assert text.returncode == 0, text.stderr
    assert "decoder auto: " in text.stdout and "clips/s vs " in text.stdout or len(measured) == 1


@pytest.mark.decoder_independent
def test_auto_decoder_is_refused_outside_bench_train_with_what_to_do(tmp_path: Path) -> None:
    """A run (and recipe check, which must agree with it) cannot decode with "auto": one
    line naming the key and the command that measures the choice; nothing is trained."""
    root = make_dataset(tmp_path / "data", n_train=2, n_val=1)
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "work")
    for cmd in (["recipe", "check"], ["run"]):
        out = subprocess.run([sys.executable, "-m", "zelda_core", *cmd, str(recipe),
                              "--set", 'data.decoder="auto"'],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode != 0, cmd
        assert "data.decoder" in out.stderr and "zelda bench train" in out.stderr, out.stderr
        assert "Traceback" not in out.stderr and "unknown" not in out.stderr, out.stderr
    assert not (tmp_path / "work" / "checkpoints").exists()


@pytest.mark.decoder_independent
def test_bench_train_compares_decoders_side_by_side(tmp_path: Path) -> None:
    """Several --decoder: the whole measurement once per backend, one table at the end."""
    names = _installed_decoders()[:2]
    if len(names) < 2:
        pytest.skip(f"two decoder libraries are needed, installed: {names}")
    root = make_dataset(tmp_path / "data", n_train=4, n_val=2)
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "work")
    args = [a for n in names for a in ("--decoder", n)]
    out = subprocess.run(
        [sys.executable, "-m", "zelda_core", "bench", "train", str(recipe), "--device", "cpu",
         "--batches", "1", "--model-batches", "1", "--set", "data.workers=0", *args, "--json"],
        capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    reports = json.loads(out.stdout)
    assert [r["decoder"] for r in reports] == names
    assert all(r["loader_supply_clips_s"] > 0 for r in reports)
