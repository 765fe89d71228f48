"""The reader interface every decoder plugin implements, and ``open_video``.

A reader gives frame-accurate random access: index i is the i-th frame of a full
sequential decode, whatever the container header claims.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is light, but keep the CLI start-up free of it
    import numpy as np

Size = int | Sequence[int] | None
"""``None`` (native), an int (short side, aspect kept) or ``(h, w)`` exact."""


def resolve_size(height: int, width: int, size: Size) -> tuple[int, int]:
    """Output (h, w) for a frame of ``height`` x ``width`` asked at ``size``.

    An int short side rounds like MMAction2's ``Resize(scale=(-1, s))``
    (``mmcv.rescale_size``), so recipes transfer pixel for pixel.
    """
    if size is None:
        return height, width
    if isinstance(size, int):
        scale = size / min(height, width)
        return int(height * scale + 0.5), int(width * scale + 0.5)
    h, w = (int(v) for v in size)
    if h <= 0 and w <= 0:
        raise ValueError(f"size {tuple(size)} has no positive side")
    if h <= 0:  # (-1, w): keep aspect, width fixed
        return int(height * w / width + 0.5), w
    if w <= 0:
        return h, int(width * h / height + 0.5)
    return h, w


class VideoReader:
    """Base class of decoder readers. Subclasses fill the metadata and ``_read``."""

    path: str
    num_frames: int
    fps: float
    width: int
    height: int
    codec: str = ""

    @property
    def duration(self) -> float:
        """Seconds, from the true frame count and the average rate."""
        return self.num_frames / self.fps if self.fps else math.nan

    def get_frames(self, indices: Sequence[int], *, size: Size = None) -> np.ndarray:
        """RGB uint8 frames (N, H, W, 3) in the order asked, duplicates allowed."""
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """Metadata for ``zelda probe``."""
        return {
            "path": self.path,
            "frames": self.num_frames,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "codec": self.codec,
            "duration": self.duration,
        }

    def close(self) -> None:
        """Release the file and decoder."""

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self.num_frames


def open_video(path: str, decoder: str | None = None, **options: Any) -> VideoReader:
    """Open ``path`` with the decoder plugin named ``decoder``.

    Raises DecodeError for an unreadable file.
    """
    from ._registry import build
    from .api import DEFAULT_DECODER

    return build("decoders", {"type": decoder or DEFAULT_DECODER, **options}, path=str(path))
