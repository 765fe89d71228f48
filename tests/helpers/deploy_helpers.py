"""Helpers for the export/predict/plot tests: square clips cut from real videos, joined
videos, small recipes on kinetics2_tiny, SVG/PNG checks."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

REPO = Path(__file__).resolve().parents[2]
KINETICS2 = "data/kinetics2_tiny"


def link_kinetics2_subset(src: Path, root: Path, n_train: int = 4, n_val: int = 2) -> Path:
    """``root`` holding ``n_train``/``n_val`` videos of kinetics2_tiny ``src`` (both classes
    in each split, symlinked), their annotation lines and the label map."""
    import shutil

    for split, ann, n in (("train", "kinetics_tiny_train_video.txt", n_train),
                          ("val", "kinetics_tiny_val_video.txt", n_val)):
        lines = [x.split() for x in (src / ann).read_text().splitlines() if x.strip()]
        picked = [next(x for x in lines if x[1] == str(c)) for c in (0, 1)]
        picked += [x for x in lines if x not in picked][: n - 2]
        (root / split).mkdir(parents=True)
        for name, _ in picked:
            (root / split / name).symlink_to(src / split / name)
        (root / ann).write_text("".join(f"{a} {b}\n" for a, b in picked))
    shutil.copy(src / "label_map.txt", root / "label_map.txt")
    return root


def zelda(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m zelda_core ARGS`` in a subprocess (the real CLI), output captured."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "zelda_core", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=600)


def square_frames(path: Path, seconds: float, side: int) -> list[np.ndarray]:
    """The first ``seconds`` of ``path`` as RGB frames: the centre square, resized to
    ``side`` x ``side`` (every source frame, in order)."""
    import av

    frames = []
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        limit = int(seconds * float(stream.average_rate))
        for frame in c.decode(stream):
            img = frame.to_ndarray(format="rgb24")
            h, w = img.shape[:2]
            s = min(h, w)
            y, x = (h - s) // 2, (w - s) // 2
            sq = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[y:y + s, x:x + s]), format="rgb24")
            frames.append(sq.reformat(width=side, height=side, format="rgb24").to_ndarray())
            if len(frames) >= limit:
                break
    return frames


def write_video(path: Path, frames: list[np.ndarray], fps: int = 25, keyint: int = 8) -> Path:
    """H.264 MP4 of RGB frames (small GOPs: cheap random access)."""
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": "ultrafast", "crf": "18",
                     "x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0:bframes=0"}
        for img in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def png_ok(path: Path) -> tuple[int, int]:
    """(width, height) of a valid PNG (signature and IHDR checked)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    w, h = struct.unpack(">II", data[16:24])
    assert w > 0 and h > 0 and data.rstrip(b"\x00")[-8:-4] == b"IEND"
    return w, h


def svg_root(path: Path) -> ElementTree.Element:
    """The parsed root of a valid SVG file."""
    root = ElementTree.parse(path).getroot()
    assert root.tag.endswith("}svg") or root.tag == "svg", f"{path} is not an SVG"
    return root


def svg_texts_by_id(root: ElementTree.Element, prefix: str) -> dict[str, str]:
    """{id: text} of the groups whose id starts with ``prefix`` (matplotlib gids)."""
    out = {}
    for g in root.iter():
        gid = g.get("id", "")
        if gid.startswith(prefix):
            out[gid] = "".join(t.text or "" for t in g.iter() if t.tag.endswith("text"))
    return out
