"""Run logging: console (and ``train.log``); records go to the run's loggers
(``metrics.jsonl``, TensorBoard, trackers: built by ``loggers.py``), each call isolated.

A logger that raises is reported in one line and disabled for the rest of the run; the
run goes on. ``metrics.jsonl`` (the ``jsonl`` logger) is the run's own record: its
failures (a symlink planted at its name, a full disk) stop the run as they always did.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
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


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}{'...' if len(text) > 300 else ''}"


class LoggerSet:
    """The run's loggers (``loggers.build_loggers``), called in turn. A failing logger (not the record) is reported
    once through ``warn`` and dropped: training goes on without it."""

    def __init__(self, entries: list[Any], warn: Callable[[str], None]):  # loggers.LoggerEntry
        self.active = [e for e in entries if e.failure is None]
        self.disabled: list[str] = [e.name for e in entries if e.failure is not None]
        self._failed = [e for e in entries if e.failure is not None]
        self._warn = warn

    def report_failed(self) -> None:
        """One line per logger whose factory failed (once)."""
        for entry in self._failed:
            self._warn(f"logger '{entry.name}' could not be built: {entry.failure[:300]}; the run goes "
                       "on without it")
        self._failed = []

    def names(self) -> list[str]:
        return [e.name for e in self.active]

    def _call(self, method: str, *args: Any, **kwargs: Any) -> list[Any]:
        results = []
        for entry in list(self.active):
            fn = getattr(entry.logger, method, None)
            if fn is None:  # an optional member (rewind)
                continue
            if entry.required:
                results.append(fn(*args, **kwargs))
                continue
            try:
                results.append(fn(*args, **kwargs))
            except Exception as exc:  # noqa: BLE001 - a logger never stops training
                self.active.remove(entry)
                self.disabled.append(entry.name)
                self._warn(f"logger '{entry.name}' ({entry.provider}) failed in {method}() with "
                           f"{_one_line(exc)}; it is disabled for the rest of the run, which goes on")
        return results

    def start(self, params: dict[str, Any], *, work_dir: Path) -> None:
        self._call("start", params, run_name=work_dir.name, work_dir=work_dir)

    def log_metrics(self, kind: str, step: int, values: dict[str, Any]) -> None:
        self._call("log_metrics", kind, step, values)

    def log_artifact(self, path: Path, kind: str) -> None:
        self._call("log_artifact", Path(path), kind)

    def log_summary(self, summary: dict[str, Any]) -> None:
        self._call("log_summary", summary)

    def rewind(self, epochs_done: int, iter_in_epoch: int = 0) -> int:
        """What the record's ``rewind`` moved aside (the others rewind quietly)."""
        moved = [n for n in self._call("rewind", epochs_done, iter_in_epoch) if isinstance(n, int)]
        return max(moved, default=0)

    def finish(self, status: str) -> None:
        """``finish`` on every logger, the record last; each only once."""
        entries, self.active = self.active, []
        for entry in sorted(entries, key=lambda e: e.required):
            self.active = [entry]
            self._call("finish", status)
        self.active = []


class RunLogger:
    """Writes human lines to the console and ``work_dir/train.log``, and hands records to
    the run's loggers (``register_loggers``): by default ``metrics.jsonl`` (one JSON object
    per line) and TensorBoard (``work_dir/tensorboard``) when tensorboard is installed,
    plus the recipe's ``[loggers.NAME]``. ``loggers``: the built entries (None: the
    defaults; ``tensorboard=False`` leaves TensorBoard out); ``params``: the resolved
    recipe the loggers receive at start."""

    def __init__(self, work_dir: str | Path | None, *, stream: TextIO | None = None,
                 tensorboard: bool = True, quiet: bool = False, loggers: list[Any] | None = None,
                 params: dict[str, Any] | None = None):
        from .loggers import build_loggers

        self.work_dir = Path(work_dir) if work_dir else None
        self.stream = stream
        self.quiet = quiet
        self._text = None
        self.loggers = LoggerSet([], self.warning)
        if self.work_dir:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            if loggers is None:
                loggers = build_loggers({} if tensorboard else {"loggers": {"tensorboard": False}})
            self.loggers = LoggerSet(loggers, self.warning)
            self._text = _append(self.work_dir / "train.log")  # first: loggers' warnings go there
            self.loggers.report_failed()
            try:
                self.loggers.start(params or {}, work_dir=self.work_dir)
            except BaseException:
                self.close("failed")
                raise

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
        """One record ``{"type": kind, "step": step, ...}`` to every logger (a
        metrics.jsonl line, TensorBoard scalars, ...)."""
        self.loggers.log_metrics(kind, step, values)

    def artifact(self, path: str | Path, kind: str) -> None:
        """A file the run wrote (best checkpoint, plot, report), for the loggers."""
        self.loggers.log_artifact(Path(path), kind)

    def summary(self, summary: dict[str, Any]) -> None:
        """The run's summary (summary.json), for the loggers."""
        self.loggers.log_summary(summary)

    def rewind(self, epochs_done: int, iter_in_epoch: int = 0) -> int:
        """Resuming from a checkpoint taken after ``epochs_done`` epochs and
        ``iter_in_epoch`` batches of the next: the loggers drop what the interrupted run
        logged after it (metrics.jsonl moves those records to metrics.discarded.jsonl).
        Returns how many records moved."""
        return self.loggers.rewind(epochs_done, iter_in_epoch)

    def close(self, status: str = "success") -> None:
        """Finish every logger (``status``: "success" or "failed") and close train.log."""
        try:
            self.loggers.finish(status)
        finally:
            if self._text:
                self._text.close()
            self._text = None

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        self.close("failed" if exc_type else "success")


class RankLogger(RunLogger):
    """The logger of a rank other than 0 in a distributed run: it writes no files and
    prints only warnings, on stderr, prefixed with its rank (rank 0 logs the run)."""

    def __init__(self, rank: int):
        super().__init__(None, quiet=True)
        self.rank = rank

    def warning(self, message: str) -> None:
        print(f"[rank {self.rank}] warning: {message}", file=sys.stderr, flush=True)


def log_test(data: dict[str, Any], report: dict[str, Any], *, checkpoint: str | Path,
             file: str | None = None) -> None:
    """``zelda test``'s result to the trackers the recipe names (``[loggers.NAME]``; not
    metrics.jsonl or TensorBoard, which are the training run's): the metrics as a ``test``
    record, the metrics file and dump as artifacts, the report as the summary. A tracker
    that fails is one line on stderr; the test's result stands."""
    from .._recipe_tables import DEFAULT_LOGGERS
    from .loggers import build_loggers

    named = {n: t for n, t in (data.get("loggers") or {}).items()
             if isinstance(t, dict) and n not in DEFAULT_LOGGERS and t.get("type", n) not in DEFAULT_LOGGERS}
    if not named:
        return

    def warn(message: str) -> None:
        print(f"zelda: warning: {message}", file=sys.stderr)

    ck_dir = Path(checkpoint).resolve().parent
    run_dir = ck_dir.parent if ck_dir.name == "checkpoints" else ck_dir
    loggers = LoggerSet(build_loggers({"loggers": {**named, **dict.fromkeys(DEFAULT_LOGGERS, False)}},
                                      file=file), warn)
    loggers.report_failed()
    status = "failed"
    try:
        loggers.start(data, work_dir=run_dir)
        loggers.log_metrics("test", 0, dict(report["metrics"]))
        for key in ("out", "dump"):
            if report.get(key) and Path(report[key]).is_file():
                loggers.log_artifact(Path(report[key]), "metrics")
        loggers.log_summary({"checkpoint": str(checkpoint), "split": report.get("split"),
                             "test": report["metrics"], "skipped": report.get("skipped") or []})
        status = "success"
    finally:
        loggers.finish(status)
