"""Helpers for the data-pipeline tests: tiny synthetic videos whose frames encode their index."""

from __future__ import annotations

from pathlib import Path

import numpy as np

STEP = 8
"""Frame i is a flat grey of level (i * STEP) % 256, so a decoded frame names its index."""


def make_video(path: str | Path, frames: int = 30, width: int = 64, height: int = 48,
               fps: int = 25) -> Path:
    """Encode an H.264 mp4 of ``frames`` flat frames (a few ms with PyAV)."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "10"}
        for i in range(frames):
            img = np.full((height, width, 3), (i * STEP) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def frame_ids(imgs: np.ndarray) -> list[int]:
    """The index each decoded frame (N, H, W, 3) shows (frames < 32)."""
    return [int(round(float(f.mean()) / STEP)) for f in imgs]


def make_corrupt(path: str | Path) -> Path:
    """A file named .mp4 that holds no video."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a video\n" * 20)
    return path


def make_dataset(root: Path, names: dict[str, int], frames: int = 30,
                 ann: str = "ann.txt") -> Path:
    """Videos under root/videos and an annotation list root/ann.txt ("name label")."""
    lines = []
    for name, label in names.items():
        make_video(root / "videos" / name, frames=frames)
        lines.append(f"{name} {label}")
    (root / ann).write_text("\n".join(lines) + "\n")
    return root
