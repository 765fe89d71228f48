"""Run logging: console (and ``train.log``), ``metrics.jsonl``, TensorBoard if installed."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no nan/inf
    return value


class RunLogger:
    """Writes human lines to the console and ``work_dir/train.log``, records to
    ``work_dir/metrics.jsonl`` (one JSON object per line) and scalars to TensorBoard
    (``work_dir/tensorboard``) when the tensorboard package is installed."""

    def __init__(self, work_dir: str | Path | None, *, stream: TextIO | None = None,
                 tensorboard: bool = True, quiet: bool = False):
        self.work_dir = Path(work_dir) if work_dir else None
        self.stream = stream
        self.quiet = quiet
        self._jsonl = self._text = None
        self._tb = None
        if self.work_dir:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            self._jsonl = open(self.work_dir / "metrics.jsonl", "a", encoding="utf-8")
            self._text = open(self.work_dir / "train.log", "a", encoding="utf-8")
            if tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter  # needs `tensorboard`
                except Exception:  # ImportError, or a broken tensorboard install
                    SummaryWriter = None
                if SummaryWriter is not None:
                    self._tb = SummaryWriter(str(self.work_dir / "tensorboard"))

    @property
    def tensorboard(self) -> bool:
        return self._tb is not None

    def info(self, message: str) -> None:
        """A line for people: console (through tqdm, so bars stay intact) and train.log."""
        if not self.quiet:
            from tqdm import tqdm

            tqdm.write(message, file=self.stream or sys.stdout)
        if self._text:
            self._text.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
            self._text.flush()

    def warning(self, message: str) -> None:
        self.info(f"warning: {message}")

    def record(self, kind: str, step: int, **values: Any) -> None:
        """One metrics.jsonl line ``{"type": kind, "step": step, ...}`` and TB scalars."""
        if self._jsonl:
            rec = {"type": kind, "step": step, **{k: _clean(v) for k, v in values.items()}}
            self._jsonl.write(json.dumps(rec) + "\n")
            self._jsonl.flush()
        if self._tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("epoch", "iter"):
                    self._tb.add_scalar(f"{kind}/{k}", v, step)

    def close(self) -> None:
        for f in (self._jsonl, self._text):
            if f:
                f.close()
        self._jsonl = self._text = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class RankLogger(RunLogger):
    """The logger of a rank other than 0 in a distributed run: it writes no files and
    prints only warnings, on stderr, prefixed with its rank (rank 0 logs the run)."""

    def __init__(self, rank: int):
        super().__init__(None, quiet=True)
        self.rank = rank

    def warning(self, message: str) -> None:
        print(f"[rank {self.rank}] warning: {message}", file=sys.stderr, flush=True)
