"""RGB conversion and resizing shared by the pyav and decord readers.

Colours always come from one conversion at the frame's own size, the one a plain
``frame.to_ndarray(format="rgb24")`` does (bit-identical to decord's and so to
MMAction2's frames). A requested size is then reached by scaling those RGB frames. With
the default ``"BILINEAR"`` that is torch's uint8 bilinear without antialiasing, the
kernel of zelda's ``resize`` transform (OpenCV's ``INTER_LINEAR``, MMAction2's): a
fused decode+resize returns exactly the frames of decoding, then resizing. Other
interpolations scale the RGB frames with swscale.

A fused bilinear resize hands the RGB24 frame to torch as a channels-last tensor, which
torch's uint8 kernel scales without copying it. Rows padded to the frame's stride are
first copied into a reused contiguous buffer (handed them, torch would copy the frame
itself, multi-threaded, into a fresh buffer). On 720p-1080p frames this costs about 15%
less than converting to RGBA for torch's four-channel path, about what swscale's biased
one-call scaling costs, and the colours are those of the unscaled conversion by
construction (docs/benchmarks.md, "720p-1080p originals").

Scaling inside swscale's YUV->RGB conversion instead (one ``sws_scale`` call, zelda's
fusion before) takes swscale's other output path, whose rounding and chroma handling
made fused frames about 1 grey level brighter than the unfused ones and 4-6 levels off
at the 99th percentile; figures in docs/pipeline.md.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

__all__ = ["INTERPOLATIONS", "check_interpolation", "frame_to_rgb", "resize_rgb"]

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


def _contiguous(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` itself, or its copy in this thread's reused buffer when its rows are padded."""
    if rgb.flags.c_contiguous:
        return rgb
    buf = getattr(_LOCAL, "rgb_buffer", None)
    if buf is None or buf.shape != rgb.shape:
        buf = _LOCAL.rgb_buffer = np.empty(rgb.shape, np.uint8)
    np.copyto(buf, rgb)
    return buf


def _bilinear(rgb: np.ndarray, h: int, w: int) -> np.ndarray:
    """Torch's uint8 bilinear, no antialiasing (zelda's ``resize``, OpenCV's INTER_LINEAR)."""
    import torch
    import torch.nn.functional as F

    # (1, H, W, 3) -> NCHW view with channels-last strides, batch stride included, so
    # torch writes a channels-last output directly instead of copying into an NCHW one
    t = torch.from_numpy(_contiguous(rgb))[None].permute(0, 3, 1, 2)
    out = F.interpolate(t, size=(h, w), mode="bilinear", antialias=False, align_corners=False)
    return out[0].permute(1, 2, 0).contiguous().numpy()


def frame_to_rgb(frame: Any, h: int, w: int, interpolation: str = "BILINEAR") -> np.ndarray:
    """RGB uint8 (h, w, 3) of a decoded PyAV frame."""
    rgb = _reformatter("convert").reformat(frame, format="rgb24", threads=1)
    if (h, w) == (frame.height, frame.width):
        return rgb.to_ndarray()
    if interpolation == "BILINEAR":
        return _bilinear(rgb.to_ndarray(), h, w)
    from av.video.reformatter import Interpolation

    out = _reformatter("scale").reformat(
        rgb, width=w, height=h, interpolation=getattr(Interpolation, interpolation), threads=1)
    return out.to_ndarray()


def resize_rgb(rgb: np.ndarray, h: int, w: int, interpolation: str = "BILINEAR") -> np.ndarray:
    """An RGB uint8 (H, W, 3) array scaled to (h, w) like :func:`frame_to_rgb` scales."""
    import av

    if rgb.shape[:2] == (h, w):
        return rgb
    if interpolation == "BILINEAR":
        return _bilinear(rgb, h, w)
    from av.video.reformatter import Interpolation

    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    out = _reformatter("scale").reformat(
        frame, width=w, height=h, interpolation=getattr(Interpolation, interpolation), threads=1)
    return out.to_ndarray()
