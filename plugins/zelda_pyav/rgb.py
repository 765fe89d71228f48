"""RGB conversion and resizing shared by the pyav and decord readers (swscale).

Colours always come from one conversion at the frame's own size, the one a plain
``frame.to_ndarray(format="rgb24")`` does (bit-identical to decord's and so to
MMAction2's frames). A requested size is then reached by scaling those RGB frames:
scaling inside the YUV->RGB conversion instead takes swscale's other output path,
whose rounding and chroma handling made fused frames about 1 grey level brighter than
resizing afterwards (see docs/pipeline.md for the figures).

The default ``"BILINEAR"`` policy matches OpenCV's ``INTER_LINEAR`` (what MMAction2 and
zelda's own ``resize`` do) as closely as swscale can: bilinear where a side grows,
swscale's area filter where it shrinks (swscale widens its bilinear filter when
downscaling, OpenCV does not; area is the closer one, and equal at 2:1).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

INTERPOLATIONS = ("FAST_BILINEAR", "BILINEAR", "BICUBIC", "AREA", "POINT", "LANCZOS")

_LOCAL = threading.local()


def _reformatter(slot: str) -> Any:
    """This thread's reformatter for one job: its cached SwsContext is reused across
    frames and readers (a fresh one per frame costs ~30x the conversion itself)."""
    r = getattr(_LOCAL, slot, None)
    if r is None:
        from av.video.reformatter import VideoReformatter

        r = VideoReformatter()
        setattr(_LOCAL, slot, r)
    return r


def check_interpolation(name: str) -> str:
    """The upper-case name, or ValueError naming the accepted ones."""
    if not isinstance(name, str) or name.upper() not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, not {name!r}")
    return name.upper()


def _flag(interpolation: str, src: tuple[int, int], dst: tuple[int, int]) -> Any:
    from av.video.reformatter import Interpolation

    if interpolation == "BILINEAR" and (dst[0] < src[0] or dst[1] < src[1]):
        return Interpolation.AREA
    return getattr(Interpolation, interpolation)


def frame_to_rgb(frame: Any, h: int, w: int, interpolation: str = "BILINEAR") -> np.ndarray:
    """RGB uint8 (h, w, 3) of a decoded PyAV frame."""
    rgb = _reformatter("convert").reformat(frame, format="rgb24", threads=1)
    if (h, w) != (frame.height, frame.width):
        rgb = _reformatter("scale").reformat(
            rgb, width=w, height=h,
            interpolation=_flag(interpolation, (frame.height, frame.width), (h, w)), threads=1)
    return rgb.to_ndarray()


def resize_rgb(rgb: np.ndarray, h: int, w: int, interpolation: str = "BILINEAR") -> np.ndarray:
    """An RGB uint8 (H, W, 3) array scaled to (h, w) like :func:`frame_to_rgb` scales."""
    import av

    if rgb.shape[:2] == (h, w):
        return rgb
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    out = _reformatter("scale").reformat(
        frame, width=w, height=h, interpolation=_flag(interpolation, rgb.shape[:2], (h, w)),
        threads=1)
    return out.to_ndarray()
