"""Small media fixtures, made in the test with PyAV: videos, broken files, reference decodes.

The one place tests make media. ``make_video`` draws one of four patterns:

- ``"waves"``: smooth moving sinusoids, every frame clearly differs from its neighbours and
  every scaler agrees on them (decoder tests);
- ``"index"``: flat grey frames of level ``(i * STEP) % 256``, so :func:`frame_ids` reads a
  decoded frame's index back (pipeline tests);
- ``"dark"`` / ``"bright"``: noise below 90 or above 160, two separable classes (training).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

STEP = 8
"""Pattern "index": frame i is a flat grey of level (i * STEP) % 256."""

GOP = "keyint=12:min-keyint=12:scenecut=0:bframes=2:b-pyramid=0"
"""Default x264 parameters: a keyframe every 12 frames and B-frames, so seeking and
reordering are exercised even in a 40-frame file."""

Pattern = Literal["waves", "index", "dark", "bright"]


def draw_frame(pattern: Pattern, i: int, h: int, w: int,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """Frame ``i`` (h, w, 3) uint8 RGB of ``pattern`` (noise patterns draw from ``rng``)."""
    if pattern == "index":
        return np.full((h, w, 3), (i * STEP) % 256, np.uint8)
    if pattern in ("dark", "bright"):
        rng = rng if rng is not None else np.random.default_rng(i)
        return rng.integers(0, 90, (h, w, 3), dtype=np.uint8) + (160 if pattern == "bright" else 0)
    if pattern != "waves":
        raise ValueError(f"unknown pattern {pattern!r}")
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = 128 + 100 * np.sin(2 * np.pi * (xx / w + i / 40))
    img[..., 1] = 128 + 100 * np.sin(2 * np.pi * (yy / h + i / 17))
    img[..., 2] = (i * 37) % 256
    return img


def make_video(
    path: str | Path,
    frames: int = 40,
    *,
    size: tuple[int, int] = (48, 64),
    pattern: Pattern = "waves",
    fps: int = 25,
    x264: str = GOP,
    fmt: str | None = None,
    faststart: bool = False,
) -> Path:
    """Encode ``frames`` frames of ``size`` = (h, w) as H.264 (a few ms); parents are made.

    ``fmt`` forces the container (e.g. "avi", "matroska"), else the suffix picks it;
    ``faststart`` moves the MP4 index to the front.
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = size
    rng = np.random.default_rng(0)
    opts = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", format=fmt, options=opts) as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"x264-params": x264, "preset": "ultrafast", "crf": "10"}
        for i in range(frames):
            img = draw_frame(pattern, i, h, w, rng)
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def frame_ids(imgs: np.ndarray) -> list[int]:
    """The index each decoded frame (N, H, W, 3) of pattern "index" shows (frames < 32)."""
    return [int(round(float(f.mean()) / STEP)) for f in imgs]


def make_corrupt(path: str | Path) -> Path:
    """A file named like a video that holds no video."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a video\n" * 20)
    return path


def full_decode(path: Path) -> list[np.ndarray]:
    """Every frame of a plain sequential PyAV decode, as RGB arrays (the reference)."""
    import av

    with av.open(str(path)) as c:
        c.streams.video[0].codec_context.thread_count = 1
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def make_edit_list_video(path: Path, src: Path, cut: int = 3) -> Path:
    """Remux ``src`` with its first ``cut`` frames before an MP4 edit list's start:
    the demuxer marks their packets discard and a full decode never shows them."""
    import av

    with av.open(str(src)) as i, av.open(str(path), "w", options={"use_editlist": "1"}) as o:
        s = i.streams.video[0]
        out = o.add_stream_from_template(s)
        shift = cut * int(round(1 / (s.time_base * s.average_rate)))
        for pkt in i.demux(s):
            if pkt.dts is None:
                continue
            pkt.pts -= shift
            pkt.dts -= shift
            pkt.stream = out
            o.mux(pkt)
    return path
