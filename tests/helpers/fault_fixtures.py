"""Damaged videos for the fault tests: cut short after a front index, corrupt mid-stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def make_noise_video(path: str | Path, frames: int = 40, gop: int = 10) -> Path:
    """An H.264 MP4 of noise frames, index first ("faststart"), a keyframe every ``gop``."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": str(gop), "keyint_min": str(gop)}
        for _ in range(frames):
            img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_truncated(path: str | Path, keep: float = 0.7) -> Path:
    """A faststart MP4 cut mid-data: its index lists frames whose bytes are gone."""
    path = make_noise_video(path)
    data = path.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat"), "the index must come first"
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def make_corrupt_midstream(path: str | Path) -> Path:
    """A faststart MP4 whose middle eighth of media data is zeroed: its first and last
    frames decode, some frames between them do not."""
    path = make_noise_video(path)
    data = bytearray(path.read_bytes())
    mdat = data.find(b"mdat")
    n = (len(data) - mdat) // 8
    mid = mdat + (len(data) - mdat) // 2
    data[mid: mid + n] = bytes(n)
    path.write_bytes(bytes(data))
    return path
