"""A reader limited to a span of another: predict's windows, trimmed annotation clips.

Frame ``i`` of the span is frame ``start + i`` of the video; nothing is re-encoded, the
decoder seeks as for any frame request.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._errors import DecodeError
from ._video import VideoReader


class SpanReader(VideoReader):
    """A reader showing frames ``[start, start + length)`` of another as ``0..length-1``."""

    def __init__(self, reader: Any, start: int, length: int) -> None:
        self._reader, self._start = reader, int(start)
        self.path, self.fps = reader.path, reader.fps
        self.width, self.height = reader.width, reader.height
        self.codec = getattr(reader, "codec", "")
        self.num_frames = int(length)

    def get_frames(self, indices: Sequence[int], *, size: Any = None) -> np.ndarray:
        return self._reader.get_frames(self._inner(indices), size=size)

    def get_frames_tensor(self, indices: Sequence[int]) -> Any:
        return self._reader.get_frames_tensor(self._inner(indices))

    def _inner(self, indices: Sequence[int]) -> np.ndarray:
        inds = np.asarray(indices, dtype=np.int64).reshape(-1)
        if inds.size and (inds.min() < 0 or inds.max() >= self.num_frames):
            raise IndexError(f"frame index outside the span of {self.num_frames} frames")
        return inds + self._start

    def close(self) -> None:
        self._reader.close()


def span_frames(start: float | None, end: float | None, fps: float, num_frames: int,
                path: str) -> tuple[int, int]:
    """(first frame, frame count) of the seconds ``[start, end)`` (frame i at i / fps; an
    open end is the video's end); DecodeError when the span holds no frame."""
    if fps <= 0 or not math.isfinite(fps):
        raise DecodeError(path, "the video has no frame rate, so a time span cannot be cut from it")
    first = max(0, round((start or 0.0) * fps))
    stop = num_frames if end is None else min(num_frames, round(end * fps))
    if stop <= first:
        raise DecodeError(path, f"the span {start or 0:g}-{'end' if end is None else f'{end:g}'} s "
                                f"holds no frame (the video has {num_frames} frames at {fps:g} fps, "
                                f"{num_frames / fps:.3g} s)")
    return first, stop - first


class SpanOpener:
    """``opener(path)``: ``opener``'s reader limited to the seconds ``[start, end)``. A
    dataset puts it in a sample whose record names a time span (trimmed at sampling)."""

    def __init__(self, opener: Any, start: float | None, end: float | None) -> None:
        self.opener, self.start, self.end = opener, start, end

    @property
    def spec(self) -> dict[str, Any]:
        return self.opener.spec

    def __call__(self, path: str) -> SpanReader:
        reader = self.opener(path)
        try:
            first, length = span_frames(self.start, self.end, float(reader.fps or 0.0),
                                        int(reader.num_frames), path)
        except BaseException:
            reader.close()
            raise
        return SpanReader(reader, first, length)

    def __repr__(self) -> str:
        return f"SpanOpener({self.opener!r}, {self.start}, {self.end})"
