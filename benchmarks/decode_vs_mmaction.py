"""Decoding, side by side in one run: MMAction2's tutorial pipeline vs zelda's decoders.

For each dataset it runs, in this order, ``mmaction_seed.py pipeline ROOT`` (decord
get_batch + per-frame cv2 resize + crop, 1 clip x 16 frames; its CPU-s per video) and
``zelda bench decode`` on the same videos (same sampling, short side 256, each
decoder, plus the floor), then prints the ratios as one JSON line per dataset.
``--rounds 2`` alternates the two twice and averages, to damp a noisy neighbour.

usage: python benchmarks/decode_vs_mmaction.py [ROOT...] [--mmaction PYTHON] [--rounds N]
  ROOT defaults to ../shared/data/kinetics2_tiny and ../shared/data/videos/real.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ZELDA_SHARED", REPO.parent / "shared"))


def mmaction_cpu_per_video(python: str, root: Path) -> float:
    """CPU-s per video of the seed tutorial's train pipeline (1x16, decord)."""
    out = subprocess.run(
        [python, str(SHARED / "bench" / "mmaction_seed.py"), "pipeline", str(root)],
        capture_output=True, text=True, check=True,
    ).stdout
    for line in out.splitlines():
        if line.startswith("{") and '"pipeline:seed-train-1x16"' in line:
            return float(json.loads(line)["cpu_s_per_video"])
    raise RuntimeError(f"no seed-train line in the output of mmaction_seed.py:\n{out}")


def videos_of(root: Path) -> list[str]:
    """The videos the seed script uses for ROOT: the train list, or every video in it."""
    ann = root / "kinetics_tiny_train_video.txt"
    if ann.is_file():
        return [str(root / "train" / line.split()[0]) for line in ann.read_text().splitlines() if line.strip()]
    exts = (".mp4", ".avi", ".mkv", ".webm", ".mov")
    return sorted(str(p) for p in root.iterdir() if p.suffix.lower() in exts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("roots", nargs="*", type=Path,
                    default=[SHARED / "data" / "kinetics2_tiny", SHARED / "data" / "videos" / "real"])
    ap.add_argument("--mmaction", default=os.environ.get("MMACTION_PYTHON", "/tmp/venv-mmaction/bin/python"))
    ap.add_argument("--decoder", action="append", help="zelda decoders (default pyav, decord)")
    ap.add_argument("--rounds", type=int, default=1)
    a = ap.parse_args()
    sys.path[:0] = [str(REPO), str(REPO / "plugins")]
    from zelda_pyav.bench_decode import bench_decode

    decoders = a.decoder or ["pyav", "decord"]
    for root in a.roots:
        files = videos_of(root)
        mm, ours = [], {d: [] for d in decoders}
        floor, per = [], {}
        for rnd in range(a.rounds):
            mm.append(mmaction_cpu_per_video(a.mmaction, root))
            for r in bench_decode(files, decoders, clip_len=16, num_clips=1, size=256, seed=rnd):
                ours[r["decoder"]].append(r["cpu_s_per_clip"])
                per[r["decoder"]] = r
                floor_s = r["floor_cpu_s_per_clip"]
            floor.append(floor_s)
        m = sum(mm) / len(mm)
        f = sum(floor) / len(floor)
        row = {"root": str(root), "videos": len(files), "rounds": a.rounds,
               "mmaction_tutorial_cpu_s": round(m, 4), "floor_cpu_s": round(f, 4)}
        for d, xs in ours.items():
            z = sum(xs) / len(xs)
            row[d] = {
                "cpu_s_per_clip": round(z, 4),
                "mmaction_over_zelda": round(m / z, 2),
                "zelda_over_floor": round(z / f, 3),
                "frames_decoded_per_frame_returned": per[d]["frames_decoded_per_frame_returned"],
                "floor_frames_decoded_per_frame_returned": per[d]["floor_frames_decoded_per_frame_returned"],
            }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
