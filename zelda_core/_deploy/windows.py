"""Sliding windows over a video, and the smoothed timeline of their predictions.

Pure functions on frame counts and score lists (no decoding, no torch), so they are cheap
to test on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """Frames ``[start, start + length)`` of a video, and the seconds they span."""

    start: int
    length: int
    t0: float
    t1: float


def plan_windows(num_frames: int, fps: float, window: float, stride: float) -> list[Window]:
    """Windows of ``window`` seconds every ``stride`` seconds over ``num_frames`` frames.

    The last window ends at the video's end when the regular ones leave a tail uncovered
    (so every frame is in some window); a video shorter than one window is one window.
    """
    if window <= 0 or stride <= 0:
        raise ValueError(f"window and stride must be positive seconds, got {window} and {stride}")
    if num_frames <= 0:
        return []
    if not fps or fps <= 0:
        raise ValueError("the video has no frame rate; windows in seconds need one")
    length = max(1, int(window * fps + 0.5))
    step = max(1, int(stride * fps + 0.5))
    if length >= num_frames:
        return [Window(0, num_frames, 0.0, num_frames / fps)]
    starts = list(range(0, num_frames - length + 1, step))
    if starts[-1] + length < num_frames:
        starts.append(num_frames - length)
    return [Window(s, length, s / fps, (s + length) / fps) for s in starts]


@dataclass(frozen=True)
class Segment:
    """A run of windows whose smoothed top-1 is ``label``, from ``t0`` to ``t1`` seconds."""

    label: int
    t0: float
    t1: float
    score: float
    """Mean smoothed score of ``label`` over the run."""


def smooth(scores: Sequence[Sequence[float]], radius: int = 1) -> list[list[float]]:
    """Moving average of each class's score over ``2 * radius + 1`` neighbouring windows
    (shorter at the ends)."""
    n = len(scores)
    out = []
    for i in range(n):
        lo, hi = max(0, i - radius), min(n, i + radius + 1)
        k = len(scores[i])
        out.append([sum(scores[j][c] for j in range(lo, hi)) / (hi - lo) for c in range(k)])
    return out


def timeline(windows: Sequence[Window], scores: Sequence[Sequence[float]], *,
             radius: int = 1, duration: float | None = None) -> list[Segment]:
    """Segments of constant smoothed top-1.

    Scores are smoothed over neighbouring windows (``radius``); each window stands for
    the time around its centre up to half-way to its neighbours' centres, so segments tile
    ``[0, duration]`` without gaps or overlaps.
    """
    if len(windows) != len(scores):
        raise ValueError(f"{len(windows)} windows but {len(scores)} score rows")
    if not windows:
        return []
    sm = smooth(scores, radius)
    centres = [(w.t0 + w.t1) / 2 for w in windows]
    end = duration if duration is not None else max(w.t1 for w in windows)
    bounds = [0.0] + [(a + b) / 2 for a, b in zip(centres, centres[1:])] + [end]
    segments: list[Segment] = []
    run_scores: list[float] = []
    for i, row in enumerate(sm):
        label = max(range(len(row)), key=row.__getitem__)
        if segments and segments[-1].label == label:
            last = segments[-1]
            run_scores.append(row[label])
            segments[-1] = Segment(label, last.t0, bounds[i + 1], sum(run_scores) / len(run_scores))
        else:
            run_scores = [row[label]]
            segments.append(Segment(label, bounds[i], bounds[i + 1], row[label]))
    return segments


def clock(seconds: float) -> str:
    """``mm:ss`` (``h:mm:ss`` from an hour on)."""
    s = int(seconds + 0.5)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def describe(segments: Sequence[Segment], names: Sequence[str]) -> str:
    """"typing 00:00-00:41, doing exercises 00:41-01:10"."""
    def name(i: int) -> str:
        return names[i] if i < len(names) else str(i)
    return ", ".join(f"{name(s.label)} {clock(s.t0)}-{clock(s.t1)}" for s in segments)
