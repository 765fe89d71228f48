"""Run logging: console (and ``train.log``), ``metrics.jsonl``, TensorBoard if installed."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float as text (``"nan"``, ``"inf"``): JSON has no
    NaN, and ``json.dumps`` would write a ``NaN`` that strict readers reject. ``metrics.jsonl``
    and the JSON reports (``files.write_json``) share this rule."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def show(value: float | None) -> str:
    """A metric value for a log line: 4 decimals, ``nan``/``inf`` as such, ``n/a`` when
    there is none (no validation yet, or a metric that was never a number)."""
    if value is None:
        return "n/a"
    return f"{value:.4f}"


def show_metrics(metrics: dict[str, float]) -> str:
    """``key value`` pairs of a metrics dict for a log line (``samples`` left out)."""
    return "  ".join(f"{k} {show(v)}" for k, v in metrics.items() if k != "samples")


def _append(path: Path) -> TextIO:
    """``path`` opened for appending, refused (one line) when it is a symlink, FIFO, device
    or folder: a log is zelda's own file, never a way to write into someone else's."""
    from .._outputs import check_output_file

    check_output_file(path, option="the work dir's")
    return open(path, "a", encoding="utf-8")


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
            self._jsonl = _append(self.work_dir / "metrics.jsonl")
            self._text = _append(self.work_dir / "train.log")
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
            rec = {"type": kind, "step": step, **json_safe(values)}
            self._jsonl.write(json.dumps(rec) + "\n")
            self._jsonl.flush()
        if self._tb is not None:
            for k, v in values.items():
                # a non-finite value stays in metrics.jsonl (as text) but is no point on a chart
                if (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                        and k not in ("epoch", "iter")):
                    self._tb.add_scalar(f"{kind}/{k}", v, step)

    def rewind(self, epochs_done: int, iter_in_epoch: int = 0) -> int:
        """Resuming from a checkpoint taken after ``epochs_done`` epochs and
        ``iter_in_epoch`` batches of the next: move the records logged after it (by the run
        that was interrupted) to ``metrics.discarded.jsonl``, so every (epoch, iter) appears
        once in ``metrics.jsonl``. Returns how many records moved."""
        if not self.work_dir or self._jsonl is None:
            return 0
        path = self.work_dir / "metrics.jsonl"
        self._jsonl.close()
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        limit = (epochs_done + 1, iter_in_epoch) if iter_in_epoch else (epochs_done, math.inf)
        cut = len(lines)
        for i, line in enumerate(lines):
            try:
                rec = json.loads(line)
            except ValueError:  # a line torn by the kill
                cut = i
                break
            epoch = rec.get("epoch") if isinstance(rec, dict) else None
            if not isinstance(epoch, int):
                continue
            it = rec.get("iter")
            if (epoch, it if isinstance(it, int) else math.inf) > limit:
                cut = i
                break
        if cut < len(lines):
            with _append(self.work_dir / "metrics.discarded.jsonl") as f:
                f.writelines(x if x.endswith("\n") else x + "\n" for x in lines[cut:])
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            tmp.write_text("".join(lines[:cut]), encoding="utf-8")
            os.replace(tmp, path)
        self._jsonl = _append(path)
        return len(lines) - cut

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
