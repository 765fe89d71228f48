"""``zelda bench train``: model ceiling, loader supply, predicted bound and end-to-end rate."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from engine_util import make_dataset, small_recipe


def test_bench_train_json_on_cpu(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "data", n_train=4, n_val=2)
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "work")
    out = subprocess.run(
        [sys.executable, "-m", "zelda_core", "bench", "train", str(recipe), "--device", "cpu",
         "--batches", "3", "--model-batches", "2", "--set", "data.workers=1", "--json"],
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
