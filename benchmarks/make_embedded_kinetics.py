"""Build zelda_core/_embedded/kinetics400_tiny: the small real clip set a run trains on when
kinetics400_tiny cannot be downloaded (docs/training.md, "No network").

Source: ../shared/data/kinetics2_tiny (Kinetics clips, 2 classes, 320x256 at 30 fps). Kept
in kinetics400_tiny's layout: 30 train and 10 val videos, half of each class, listed in
kinetics_tiny_{train,val}_video.txt as ``name label``, label_map.txt naming the classes. Each clip: 40 frames (4 s at 10 fps:
every 3rd frame of the source's middle 4 s), scaled to 160x128 (swscale bicubic), H.264
(libx264 crf 30, preset slow, GOP 10, yuv420p) in MP4. The whole set is about 1.5 MB.

    python benchmarks/make_embedded_kinetics.py [--src ../shared/data/kinetics2_tiny]
"""

from __future__ import annotations

import argparse
import shutil
from fractions import Fraction
from pathlib import Path

import av

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "zelda_core" / "_embedded" / "kinetics400_tiny"
PER_CLASS = {"train": 15, "val": 5}
FRAMES, STEP, FPS = 40, 3, 10
WIDTH, HEIGHT = 160, 128


def pick(src: Path, split: str) -> list[tuple[str, int]]:
    """The first PER_CLASS[split] entries of each label in the split's list file."""
    lines = (src / f"kinetics_tiny_{split}_video.txt").read_text().split("\n")
    chosen: list[tuple[str, int]] = []
    count: dict[int, int] = {}
    for line in filter(None, (x.strip() for x in lines)):
        name, label = line.rsplit(" ", 1)
        if count.get(int(label), 0) < PER_CLASS[split]:
            count[int(label)] = count.get(int(label), 0) + 1
            chosen.append((name, int(label)))
    return chosen


def reencode(src: Path, dst: Path) -> None:
    with av.open(str(src)) as inp:
        frames = [f for f in inp.decode(video=0)]
    start = max(0, (len(frames) - FRAMES * STEP) // 2)
    keep = frames[start:start + FRAMES * STEP:STEP]
    with av.open(str(dst), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.time_base = Fraction(1, FPS)
        stream.options = {"crf": "30", "preset": "slow", "g": "10", "threads": "1"}
        for i, frame in enumerate(keep):
            small = frame.reformat(width=WIDTH, height=HEIGHT, format="yuv420p",
                                   interpolation="BICUBIC")
            small.pts, small.time_base = i, Fraction(1, FPS)
            out.mux(stream.encode(small))
        out.mux(stream.encode(None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, default=REPO.parent / "shared" / "data" / "kinetics2_tiny")
    args = parser.parse_args()
    if OUT.exists():
        shutil.rmtree(OUT)
    for split in ("train", "val"):
        (OUT / split).mkdir(parents=True)
        chosen = pick(args.src, split)
        for name, _ in chosen:
            reencode(args.src / split / name, OUT / split / name)
        (OUT / f"kinetics_tiny_{split}_video.txt").write_text(
            "".join(f"{name} {label}\n" for name, label in chosen))
    shutil.copy(args.src / "label_map.txt", OUT / "label_map.txt")
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
