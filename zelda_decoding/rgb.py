"""RGB conversion and resizing shared by the pyav and decord readers.

Colours always come from one conversion at the frame's own size, the one a plain
``frame.to_ndarray(format="rgb24")`` does (bit-identical to decord's and so to
MMAction2's frames). A requested size is then reached by scaling those RGB frames. With
the default ``"BILINEAR"`` that is torch's uint8 bilinear without antialiasing, the
kernel of zelda's ``resize`` transform (OpenCV's ``INTER_LINEAR``, MMAction2's): a
fused decode+resize returns exactly the frames of decoding, then resizing. Other
interpolations scale the RGB frames with swscale.

A fused bilinear resize converts to RGBA instead (the same colours; the alpha byte is
dropped after scaling): torch's uint8 bilinear works on four channels, and handed three
(or rows with padding) it first copies the whole full-size frame into a contiguous
four-channel buffer, a multi-threaded copy whose thread wake-ups and fresh allocation
cost 3-4x the conversion itself on 720p-1080p frames (docs/benchmarks.md, "720p-1080p
originals"). Where swscale's RGBA differs from its RGB24 (its SIMD converters end some
widths' rows differently) the RGB24 frame is packed into RGBA by a second, lossless
swscale pass.

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


def _bilinear(rgb: np.ndarray, h: int, w: int) -> np.ndarray:
    """Torch's uint8 bilinear, no antialiasing (zelda's ``resize``, OpenCV's INTER_LINEAR)."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
    out = F.interpolate(t, size=(h, w), mode="bilinear", antialias=False, align_corners=False)
    return out[0].permute(1, 2, 0).contiguous().numpy()


def _bilinear_rgba(rgba: np.ndarray, h: int, w: int) -> np.ndarray:
    """:func:`_bilinear` of the RGB channels of an RGBA uint8 (H, W, 4) frame, which
    torch's kernel scales in place of layout (each channel on its own, so the RGB
    values equal those of scaling the RGB frame)."""
    import torch
    import torch.nn.functional as F

    if not rgba.flags.c_contiguous:  # padded rows: torch would copy it, multi-threaded
        buf = getattr(_LOCAL, "rgba_buffer", None)
        if buf is None or buf.shape != rgba.shape:
            buf = _LOCAL.rgba_buffer = np.empty(rgba.shape, np.uint8)
        np.copyto(buf, rgba)
        rgba = buf
    t = torch.from_numpy(rgba).permute(2, 0, 1)[None]
    out = F.interpolate(t, size=(h, w), mode="bilinear", antialias=False, align_corners=False)
    return np.ascontiguousarray(out[0].permute(1, 2, 0).numpy()[..., :3])


_RGBA_EXACT: dict[tuple[Any, ...], bool] = {}


PROBE_ROWS = 16
"""Rows of the random frame :func:`_rgba_exact` converts (plus one for odd heights)."""


def _rgba_exact(frame: Any) -> bool:
    """Whether swscale's RGBA conversion of frames shaped like ``frame`` has exactly the
    RGB values of its RGB24 one. Not always: at some widths (e.g. 484 on x86) the SIMD
    converters finish the last columns differently. Checked once per width, height
    parity, pixel format and colour space, on a frame of random bytes only
    :data:`PROBE_ROWS` high: the unscaled converters work row by row (a chroma row per
    pair of rows), so where they differ depends on the width, not the height, and a
    full-size probe cost 15-35 ms per 720p-1080p geometry, as much as converting ten of
    its frames (docs/benchmarks.md, "720p-1080p originals")."""
    rows = min(frame.height, PROBE_ROWS + frame.height % 2)
    key = (frame.width, rows, frame.format.name, frame.colorspace, frame.color_range)
    ok = _RGBA_EXACT.get(key)
    if ok is None:
        import av

        probe = av.VideoFrame(frame.width, rows, frame.format.name)
        probe.colorspace, probe.color_range = frame.colorspace, frame.color_range
        rng = np.random.default_rng(0)
        for plane in probe.planes:
            plane.update(rng.integers(0, 256, plane.buffer_size, dtype=np.uint8).tobytes())
        rgb = _reformatter("convert").reformat(probe, format="rgb24", threads=1).to_ndarray()
        rgba = _reformatter("rgba").reformat(probe, format="rgba", threads=1).to_ndarray()
        ok = _RGBA_EXACT[key] = bool(np.array_equal(rgb, rgba[..., :3]))
    return ok


def frame_to_rgb(frame: Any, h: int, w: int, interpolation: str = "BILINEAR") -> np.ndarray:
    """RGB uint8 (h, w, 3) of a decoded PyAV frame."""
    if (h, w) == (frame.height, frame.width):
        return _reformatter("convert").reformat(frame, format="rgb24", threads=1).to_ndarray()
    if interpolation == "BILINEAR":
        if _rgba_exact(frame):
            rgba = _reformatter("rgba").reformat(frame, format="rgba", threads=1)
        else:  # RGB24 first, then packed into RGBA (a lossless byte shuffle)
            rgb = _reformatter("convert").reformat(frame, format="rgb24", threads=1)
            rgba = _reformatter("pack").reformat(rgb, format="rgba", threads=1)
        return _bilinear_rgba(rgba.to_ndarray(), h, w)
    rgb = _reformatter("convert").reformat(frame, format="rgb24", threads=1)
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
