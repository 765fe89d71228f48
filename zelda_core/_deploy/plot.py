"""``zelda plot``: PNG and SVG pictures of one or more runs' work dirs.

Reads what a run writes: ``metrics.jsonl`` (train loss and learning rate per step,
validation metrics per epoch) and the confusion matrix CSVs the metrics plugin saves
under ``val/`` and ``test/`` (header ``true \\ predicted``). Several runs share the curve
plots, one line per run with a legend; confusion matrices and per-class accuracy are per
run. Uses ``matplotlib.figure.Figure`` directly (no pyplot, no global backend change).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import ZeldaError
from .._install import install_hint
from .._outputs import OutputPathError, check_output_folder, os_error_text, write_output
from .._userfile import METRICS_LIMIT, expect_dir, path_kind, read_user_text

MAX_MATRIX_CLASSES = 30
"""Above this many classes the confusion matrix shows the classes of the top confusions."""
MAX_ANNOTATED = 20
"""Cells carry their number as text up to this many classes (colour only above)."""
CONFUSION_HEADER = "true \\ predicted"
FORMATS = ("png", "svg")


@dataclass
class Run:
    """What a work dir holds, read once."""

    name: str
    path: Path
    train: list[dict[str, Any]] = field(default_factory=list)
    val: list[dict[str, Any]] = field(default_factory=list)
    confusion: dict[str, tuple[list[str], list[list[int]]]] = field(default_factory=dict)
    """split -> (class names, counts[true][predicted])"""


def read_confusion(path: Path) -> tuple[list[str], list[list[int]]]:
    """(names, counts) of a confusion CSV written by the metrics plugin."""
    text = read_user_text(path, "confusion matrix", limit=METRICS_LIMIT, error=ValueError)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or not rows[0] or rows[0][0] != CONFUSION_HEADER:
        raise ValueError(f"{path} is not a confusion matrix CSV (no '{CONFUSION_HEADER}' header)")
    names = rows[0][1:]
    counts = [[int(v) for v in r[1:]] for r in rows[1:]]
    if len(counts) != len(names) or any(len(r) != len(names) for r in counts):
        raise ValueError(f"{path}: the matrix is not {len(names)} x {len(names)}")
    return names, counts


def _dedupe(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per step (a resumed run appends the steps it repeats: the last wins)."""
    by_step: dict[int, dict[str, Any]] = {}
    for r in records:
        by_step[r["step"]] = r
    return [by_step[s] for s in sorted(by_step)]


def read_metrics(jsonl: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, val) records of a metrics.jsonl, one per step.

    A line that is not JSON is skipped (a line torn by a crash: the rest still plot); a
    JSON line that is not an object, or a train/val record without an integer ``step``,
    is a ZeldaError naming the file and line, as is a file that is not UTF-8 text.
    """
    text = read_user_text(jsonl, "metrics file", limit=METRICS_LIMIT)
    train, val = [], []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, RecursionError):  # a line torn by a crash
            continue
        if not isinstance(rec, dict):
            raise ZeldaError(f"{jsonl}:{n}: expected a JSON object (a record zelda run "
                             f"writes), got {type(rec).__name__}: {line[:60]!r}")
        if rec.get("type") not in ("train", "val"):
            continue
        step = rec.get("step")
        if isinstance(step, bool) or not isinstance(step, int):
            raise ZeldaError(f"{jsonl}:{n}: a {rec['type']} record needs an integer 'step', "
                             f"got {step!r}")
        (train if rec["type"] == "train" else val).append(rec)
    return _dedupe(train), _dedupe(val)


def read_run(path: str | Path, name: str | None = None) -> Run:
    """Read a work dir; a ZeldaError names what is missing."""
    path = Path(path)
    problem = expect_dir(path, "work dir")
    if problem:
        raise ZeldaError(f"{problem} (zelda plot takes the work dirs of runs)")
    jsonl = path / "metrics.jsonl"
    if path_kind(jsonl) == "missing":
        raise ZeldaError(f"{path} is not a zelda work dir: it has no metrics.jsonl "
                         "(zelda run writes one)")
    run = Run(name=name or path.resolve().name, path=path)
    run.train, run.val = read_metrics(jsonl)
    for split in ("val", "test"):
        d = path / split
        if not d.is_dir():
            continue
        for csv_path in sorted(d.glob("*.csv")):
            try:
                run.confusion[split] = read_confusion(csv_path)
                break
            except (ValueError, OSError):
                continue
    return run


def ema(values: list[float], alpha: float = 0.1) -> list[float]:
    """Exponential moving average (debiased, as TensorBoard's smoothing)."""
    out, avg, weight = [], 0.0, 0.0
    for v in values:
        avg = (1 - alpha) * avg + alpha * v
        weight = (1 - alpha) * weight + alpha
        out.append(avg / weight)
    return out


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


@contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    # text stays text in SVG (searchable, and the counts can be read back); no timestamps
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "zelda",
                                "font.size": 9}):
        yield


class _Written(list):
    """The files written so far, and the files read (no picture may land on one)."""

    def __init__(self, inputs: list[tuple[str, Path]]) -> None:
        super().__init__()
        self.inputs = inputs


def _save(fig: Any, out: Path, stem: str, written: _Written) -> None:
    import io

    for ext in FORMATS:
        path = out / f"{stem}.{ext}"
        buffer = io.BytesIO()  # drawn in memory: only the file write can fail on a full disk
        fig.savefig(buffer, format=ext, dpi=120, bbox_inches="tight",
                    metadata={"Date": None} if ext == "svg" else None)
        write_output(path, buffer.getvalue(), option="--out", inputs=written.inputs, fsync=False)
        written.append(path)


def _inputs(runs: list[Run]) -> list[tuple[str, Path]]:
    """The files plot reads from each work dir."""
    found = []
    for run in runs:
        found.append(("a work dir's metrics", run.path / "metrics.jsonl"))
        for split in ("val", "test"):
            found += [("a work dir's confusion matrix", p) for p in sorted((run.path / split).glob("*.csv"))]
    return found


def _colors(n: int) -> list[Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def plot_runs(work_dirs: list[str | Path], out: str | Path) -> list[Path]:
    """Write every picture for ``work_dirs`` into ``out``; returns the files written."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ZeldaError(f"zelda plot needs matplotlib: {install_hint('plot')}") from None
    runs = _named([read_run(p) for p in work_dirs])
    out = check_output_folder(out, inputs=[("a work dir", r.path) for r in runs])
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(os_error_text(exc, "create the folder", out, "--out")) from exc
    written = _Written(_inputs(runs))
    with _style():
        if any(r.train for r in runs):
            _plot_loss(runs, out, written)
            _plot_lr(runs, out, written)
        if any(r.val for r in runs):
            _plot_val(runs, out, written)
        for run in runs:
            prefix = f"{run.name}_" if len(runs) > 1 else ""
            for split, (names, counts) in run.confusion.items():
                _plot_confusion(names, counts, out, f"{prefix}confusion_{split}", run.name, split,
                                written)
                _plot_per_class(names, counts, out, f"{prefix}per_class_accuracy_{split}",
                                run.name, split, written)
    return written


def _named(runs: list[Run]) -> list[Run]:
    """Unique run names (the folder name; a counter where two are equal)."""
    seen: dict[str, int] = {}
    for r in runs:
        n = seen.get(r.name, 0)
        seen[r.name] = n + 1
        if n:
            r.name = f"{r.name}-{n + 1}"
    return runs


def _figure(w: float = 7.0, h: float = 4.0) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), layout="constrained")


def _plot_loss(runs: list[Run], out: Path, written: list[Path]) -> None:
    fig = _figure()
    ax = fig.add_subplot()
    for run, color in zip(runs, _colors(len(runs))):
        pts = [(r["step"], _num(r.get("loss"))) for r in run.train]
        pts = [(s, v) for s, v in pts if v is not None]
        if not pts:
            continue
        steps, loss = zip(*pts)
        ax.plot(steps, loss, color=color, alpha=0.3, linewidth=0.8)
        ax.plot(steps, ema(list(loss)), color=color, linewidth=1.8, label=f"{run.name} (smoothed)")
    ax.set_xlabel("step")
    ax.set_ylabel("train loss")
    ax.set_title("train loss: raw (light) and smoothed (EMA 0.1)")
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, out, "train_loss", written)


def _plot_lr(runs: list[Run], out: Path, written: list[Path]) -> None:
    fig = _figure(7.0, 3.0)
    ax = fig.add_subplot()
    for run, color in zip(runs, _colors(len(runs))):
        pts = [(r["step"], _num(r.get("lr"))) for r in run.train]
        pts = [(s, v) for s, v in pts if v is not None]
        if pts:
            ax.plot(*zip(*pts), color=color, label=run.name)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.set_title("learning rate")
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, out, "learning_rate", written)


SKIP_VAL_KEYS = {"type", "step", "epoch", "seconds", "samples"}


def _plot_val(runs: list[Run], out: Path, written: list[Path]) -> None:
    from matplotlib.ticker import MaxNLocator

    keys: list[str] = []
    for run in runs:
        for r in run.val:
            for k, v in r.items():
                if k not in SKIP_VAL_KEYS and k not in keys and _num(v) is not None:
                    keys.append(k)
    if not keys:
        return
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig = _figure(4.0 * cols, 3.0 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, key in zip(axes, keys):
        for run, color in zip(runs, _colors(len(runs))):
            pts = [(r.get("epoch"), _num(r.get(key))) for r in run.val]
            pts = [(e, v) for e, v in pts if e is not None and v is not None]
            if pts:
                ax.plot(*zip(*pts), marker="o", markersize=3, color=color, label=run.name)
        ax.set_title(f"val {key}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes[len(keys):]:
        ax.set_visible(False)
    _save(fig, out, "val_metrics", written)


def top_confused_classes(counts: list[list[int]], limit: int) -> list[int]:
    """Up to ``limit`` class indices, those of the most frequent off-diagonal confusions
    first (then, if room is left, the classes with the most samples), in index order."""
    k = len(counts)
    if k <= limit:
        return list(range(k))
    pairs = sorted(((counts[i][j], i, j) for i in range(k) for j in range(k)
                    if i != j and counts[i][j]), reverse=True)
    chosen: list[int] = []
    for _, i, j in pairs:
        for c in (i, j):
            if c not in chosen and len(chosen) < limit:
                chosen.append(c)
        if len(chosen) >= limit:
            break
    if len(chosen) < limit:
        by_support = sorted(range(k), key=lambda i: -sum(counts[i]))
        chosen += [i for i in by_support if i not in chosen][:limit - len(chosen)]
    return sorted(chosen)


def _plot_confusion(names: list[str], counts: list[list[int]], out: Path, stem: str,
                    run: str, split: str, written: list[Path]) -> None:
    import numpy as np

    m = np.asarray(counts, dtype=np.int64)
    k = len(names)
    keep = top_confused_classes(counts, MAX_MATRIX_CLASSES)
    sub = m[np.ix_(keep, keep)]
    labels = [names[i] for i in keep]
    support = m.sum(axis=1)[keep]
    norm = np.divide(sub, support[:, None], out=np.zeros(sub.shape, dtype=float),
                     where=support[:, None] > 0)
    note = "" if len(keep) == k else f" ({len(keep)} of {k} classes: those in the most frequent confusions)"
    for kind, data, fmt in (("counts", sub, "{:d}"), ("normalized", norm, "{:.2f}")):
        side = max(4.0, 0.32 * len(keep) + 2.5)
        fig = _figure(side + 1.0, side)
        ax = fig.add_subplot()
        im = ax.imshow(data, cmap="Blues", vmin=0, vmax=1 if kind == "normalized" else None)
        fig.colorbar(im, ax=ax, shrink=0.8)
        ax.set_xticks(range(len(keep)), labels, rotation=90)
        ax.set_yticks(range(len(keep)), labels)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        title = "row-normalised" if kind == "normalized" else "counts"
        ax.set_title(f"{run} {split} confusion matrix, {title}{note}", wrap=True)
        if len(keep) <= MAX_ANNOTATED:
            high = data.max() / 2 if data.size and data.max() else 0.5
            for a in range(len(keep)):
                for b in range(len(keep)):
                    v = data[a, b]
                    t = ax.text(b, a, fmt.format(int(v) if kind == "counts" else float(v)),
                                ha="center", va="center", fontsize=7,
                                color="white" if v > high else "black")
                    t.set_gid(f"{kind}-{keep[a]}-{keep[b]}")
        _save(fig, out, f"{stem}_{kind}", written)


def _plot_per_class(names: list[str], counts: list[list[int]], out: Path, stem: str,
                    run: str, split: str, written: list[Path]) -> None:
    """Horizontal bars sorted by accuracy; the figure grows with the class count (a tall,
    scrollable SVG for 400 classes) so every name stays readable."""
    rows = [(names[i], counts[i][i] / sum(counts[i]), sum(counts[i]))
            for i in range(len(names)) if sum(counts[i])]
    if not rows:
        return
    rows.sort(key=lambda r: (r[1], r[0]))
    fig = _figure(7.0, max(2.5, 0.22 * len(rows) + 1.2))
    ax = fig.add_subplot()
    ax.barh(range(len(rows)), [r[1] for r in rows], color="tab:blue")
    ax.set_yticks(range(len(rows)), [f"{r[0]} (n={r[2]})" for r in rows])
    ax.set_xlim(0, 1)
    ax.set_xlabel("accuracy (recall)")
    ax.set_title(f"{run} {split} per-class accuracy")
    ax.margins(y=0.01)
    ax.grid(axis="x", alpha=0.3)
    _save(fig, out, stem, written)
