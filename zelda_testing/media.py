"""Small test videos made with PyAV whose frames say their own index.

Frame ``i`` is two flat grey halves: the top is level ``16 * (i % 16) + 8``, the bottom
``16 * (i // 16) + 8``. Flat areas survive lossy coding and any resize, so
:func:`frame_ids` reads the index back from any decoded frame (up to 256 frames).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

X264_B_FRAMES = "keyint=12:min-keyint=12:scenecut=0:bframes=2:b-pyramid=0"
"""Closed GOPs of 12 with B-frames: decode order differs from display order."""


def frame_image(i: int, height: int, width: int) -> np.ndarray:
    """The RGB picture of frame ``i``."""
    img = np.empty((height, width, 3), np.uint8)
    img[: height // 2] = 16 * (i % 16) + 8
    img[height // 2:] = 16 * (i // 16) + 8
    return img


def frame_ids(frames: np.ndarray) -> list[int]:
    """The index each decoded RGB frame ``(N, H, W, 3)`` shows."""
    out = []
    for f in np.asarray(frames):
        h = f.shape[0]
        top = float(f[h // 8: 3 * h // 8].mean())
        bottom = float(f[5 * h // 8: 7 * h // 8].mean())
        out.append(int(round((bottom - 8) / 16)) * 16 + int(round((top - 8) / 16)))
    return out


def make_video(path: str | Path, frames: int = 40, *, size: tuple[int, int] = (48, 64),
               fps: int = 25, codec: str = "libx264", x264: str = X264_B_FRAMES) -> Path:
    """Encode ``frames`` frames of ``size`` (h, w); H.264 with B-frames by default.

    The container follows the suffix (.mp4, .mkv, .avi)."""
    import av

    if not 0 < frames <= 256:
        raise ValueError(f"frames must be in 1..256, got {frames}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if codec == "libx264":
            stream.options = {"x264-params": x264, "preset": "ultrafast", "crf": "10"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(frame_image(i, h, w), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_corrupt(path: str | Path) -> Path:
    """A file with a video suffix that holds no video."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a video\n" * 50)
    return path


def make_truncated(path: str | Path, source: str | Path, keep: float = 0.5) -> Path:
    """The first ``keep`` fraction of ``source``'s bytes: a download cut short."""
    data = Path(source).read_bytes()
    path = Path(path)
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def make_rotated(path: str | Path, source: str | Path, degrees: int, *,
                 hflip: bool = False) -> Path:
    """``source``'s packets (the same bitstream, so the same decoded pixels) in an MP4
    whose display matrix turns them ``degrees`` counter-clockwise, then mirrors them
    left-right with ``hflip``: a phone video. ``degrees = -90`` is the usual portrait
    clip (shown turned 90 degrees clockwise). :func:`shown` gives the frames a decoder
    must return."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(source)) as src, av.open(str(path), "w", format="mp4") as out:
        stream = src.streams.video[0]
        ost = out.add_stream_from_template(stream, opaque=True)
        ost.set_display_rotation(degrees, hflip=hflip)
        for packet in src.demux(stream):
            if packet.size:
                packet.stream = ost
                out.mux(packet)
    return path


def shown(frames: np.ndarray, degrees: int, *, hflip: bool = False) -> np.ndarray:
    """Frames ``(N, H, W, 3)`` of :func:`make_rotated`'s source as the rotated file must
    show them: turned ``degrees`` counter-clockwise, then mirrored with ``hflip``."""
    out = np.rot90(np.asarray(frames), k=(degrees // 90) % 4, axes=(1, 2))
    return np.ascontiguousarray(out[:, :, ::-1] if hflip else out)
