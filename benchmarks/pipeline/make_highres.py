"""Make the 720p-1080p originals of ``highres.toml``: a folder of H.264 videos at phone
and camera resolutions (docs/benchmarks.md, "Data pipeline").

usage (from the repository root):
    python benchmarks/pipeline/make_highres.py [OUT]   (default benchmarks/pipeline/.highres)

It links the 1080p and 720p files of ../shared/data/videos/real and re-encodes three
kinetics2_tiny clips (libx264 at its defaults, crf 20) to short side 720 (1280x720,
1362x720 and 720x900, 540-778 frames). Re-running keeps files that already exist.
"""

from __future__ import annotations

import sys
from pathlib import Path

import av
import numpy as np

SHARED = Path("../shared/data")
LINKED = ["h264_in_avi_1920x1080.avi", "vertical_1080x1920_29.75fps.mp4",
          "odd_width_1270x720.mp4"]
# (kinetics2_tiny clip, width, height of the re-encode)
REENCODED = [("typing1.mp4", 1280, 720), ("typing12.mp4", 1362, 720),
             ("doing_exercises10.mp4", 720, 900)]


def reencode(src: Path, dst: Path, width: int, height: int) -> None:
    """``src`` scaled to ``width`` x ``height`` as H.264 in MP4 (written beside, then renamed)."""
    tmp = dst.with_name(f".{dst.name}.tmp.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
        ist = inp.streams.video[0]
        ost = out.add_stream("libx264", rate=ist.average_rate)
        ost.width, ost.height, ost.pix_fmt = width, height, "yuv420p"
        ost.options = {"crf": "20", "preset": "fast"}
        for frame in inp.decode(ist):
            rgb = frame.to_ndarray(format="rgb24", width=width, height=height,
                                   interpolation="BICUBIC")
            out.mux(ost.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), "rgb24")))
        out.mux(ost.encode(None))
    tmp.rename(dst)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/pipeline/.highres")
    out.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = out / name
        if not link.exists():
            link.symlink_to((SHARED / "videos/real" / name).resolve())
    for name, w, h in REENCODED:
        dst = out / f"{Path(name).stem}_{w}x{h}.mp4"
        if not dst.exists():
            reencode(SHARED / "kinetics2_tiny/train" / name, dst, w, h)
            print(f"wrote {dst}")
    print(f"{len(LINKED) + len(REENCODED)} videos in {out}")


if __name__ == "__main__":
    main()
