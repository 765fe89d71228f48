"""metrics.jsonl: one JSON object per record, appended as the run goes."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, TextIO

from zelda_core.api import check_output_file, json_safe


def _append(path: Path) -> TextIO:
    """``path`` opened for appending, refused (one line) when it is a symlink, FIFO, device
    or folder: a log is zelda's own file, never a way to write into someone else's."""
    check_output_file(path, option="the work dir's")
    return open(path, "a", encoding="utf-8")


class JsonlLogger:
    """``work_dir/metrics.jsonl``: ``{"type": kind, "step": step, ...values}`` per record,
    non-finite floats as text (strict JSON readers reject NaN)."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self._file: TextIO | None = None

    def start(self, params: dict[str, Any], *, run_name: str, work_dir: Path) -> None:
        self.path = Path(work_dir) / "metrics.jsonl"
        self._file = _append(self.path)

    def log_metrics(self, kind: str, step: int, values: dict[str, Any]) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps({"type": kind, "step": step, **json_safe(values)}) + "\n")
        self._file.flush()

    def log_artifact(self, path: Path, kind: str) -> None:
        """The files are in the work dir already."""

    def log_summary(self, summary: dict[str, Any]) -> None:
        """summary.json holds it."""

    def rewind(self, epochs_done: int, iter_in_epoch: int = 0) -> int:
        """Move the records logged after the checkpoint (taken after ``epochs_done`` epochs
        and ``iter_in_epoch`` batches of the next) by the run that was interrupted to
        ``metrics.discarded.jsonl``, so every (epoch, iter) appears once. Returns how many
        records moved."""
        if self.path is None or self._file is None:
            return 0
        path = self.path
        self._file.close()
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
            with _append(path.with_name("metrics.discarded.jsonl")) as f:
                f.writelines(x if x.endswith("\n") else x + "\n" for x in lines[cut:])
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            tmp.write_text("".join(lines[:cut]), encoding="utf-8")
            os.replace(tmp, path)
        self._file = _append(path)
        return len(lines) - cut

    def finish(self, status: str) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
