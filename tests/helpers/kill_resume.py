"""kill -9 a training run mid-epoch: the shared part of the exact-resume tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path


def records(work: Path) -> list[dict]:
    """The run's metrics.jsonl records (none before it has written one)."""
    path = Path(work) / "metrics.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def kill_mid_epoch(cmd: list[str], work: Path, cwd: Path, after_iter: int = 2,
                   timeout: float = 120, env: dict[str, str] | None = None) -> None:
    """Start ``cmd`` (with ``env`` added to the environment); SIGKILL it as soon as it has
    written a mid-epoch checkpoint at ``after_iter`` or later (train.checkpoint_iters)."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if any(r["type"] == "checkpoint" and r["iter"] >= after_iter for r in records(work)):
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"the run was not killed mid-epoch: {proc.stderr.read()!r}"


def assert_same_weights(straight: Path, resumed: Path) -> tuple[dict, dict]:
    """The two runs' ``last.pth`` hold bit-identical model weights and weight averages
    (``train.ema``); returns both checkpoints for further checks."""
    import torch

    a = torch.load(Path(straight) / "checkpoints" / "last.pth", weights_only=True)
    b = torch.load(Path(resumed) / "checkpoints" / "last.pth", weights_only=True)
    for key in ("model", "ema"):
        sa, sb = (a[key], b[key]) if key == "model" else (a[key]["model"], b[key]["model"])
        differ = [k for k in sa if not torch.equal(sa[k], sb[k])]
        assert not differ, f"{key}: {len(differ)} of {len(sa)} tensors differ after resume: {differ[:4]}"
    return a, b
