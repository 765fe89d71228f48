"""Choose `zelda data prepare`'s encoder settings by measurement (docs/data.md).

usage (from the repository root):
    python benchmarks/prepare_profiles.py [--videos 6] [--short-side 256] [FILES_OR_DIRS...]

Each candidate x264 setting re-encodes the same videos with `prepare_video` (verified like
any copy), then the pyav reader decodes the tutorial's training clip (16 frames, one random
frame per equal segment, short side 256) from every copy, 3 passes, best pass kept
(opening the file with its cached index included). Reports KB per video, CPU-ms per clip
and prepare CPU-s per video; "source" is the originals. Markdown on stdout.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from zelda_pyav.encode import PROFILES, Profile, VerifyError, prepare_video
from zelda_pyav.reader import PyAVReader

CANDIDATES = [
    PROFILES["random-access"],
    Profile("all-key crf23 fast (no tune)", keyint=1, crf=23, preset="fast", tune=""),
    Profile("all-key crf28 fastdecode", keyint=1, crf=28, preset="fast", tune="fastdecode"),
    Profile("all-key crf23 ultrafast", keyint=1, crf=23, preset="ultrafast", tune=""),
    PROFILES["compact"],
    Profile("key every 16, 3 B-frames, crf23 medium", keyint=16, bframes=3, crf=23,
            preset="medium", tune=""),
    PROFILES["copy"],
]


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def clip_indices(n: int, rng: np.random.Generator, clip_len: int = 16) -> list[int]:
    """The tutorial's sampler: one random frame in each of clip_len equal segments."""
    seg = n / clip_len
    return [min(n - 1, int(seg * k + rng.uniform(0, seg))) for k in range(clip_len)]


def decode_cost(files: list[str], passes: int = 3) -> float:
    """CPU-s per clip, best of ``passes``."""
    best = float("inf")
    for p in range(passes):
        rng = np.random.default_rng(p)
        c0 = cpu()
        for f in files:
            r = PyAVReader(f)
            try:
                r.get_frames(clip_indices(r.num_frames, rng), size=256)
            finally:
                r.close()
        best = min(best, (cpu() - c0) / len(files))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="*", default=["../shared/data/kinetics2_tiny/train"])
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--short-side", type=int, default=256)
    ap.add_argument("--only", default="", help="comma-separated candidate names")
    a = ap.parse_args()
    files: list[str] = []
    for p in a.paths:
        path = Path(p)
        files += sorted(str(f) for f in path.iterdir()) if path.is_dir() else [str(path)]
    files = files[: a.videos]
    print(f"{len(files)} videos: {', '.join(os.path.basename(f) for f in files)}; load "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", file=sys.stderr)
    rows = [("source (originals)", sum(os.path.getsize(f) for f in files) / len(files) / 1e3,
             decode_cost(files), None)]
    only = [x for x in a.only.split(",") if x]
    with tempfile.TemporaryDirectory() as tmp:
        for prof in (c for c in CANDIDATES if not only or c.name in only):
            outs = []
            c0, t0 = cpu(), time.perf_counter()
            try:
                for n, f in enumerate(files):
                    dst = os.path.join(tmp, prof.name.replace(" ", "_").replace(",", ""),
                                       f"{n}{Path(f).suffix}")
                    prepare_video(f, dst, prof, a.short_side)
                    outs.append(dst)
            except VerifyError as e:
                print(f"  {prof.name}: a copy failed verification: {e}", file=sys.stderr)
                rows.append((f"{prof.name} (failed verification: {e})", float("nan"),
                             float("nan"), None))
                continue
            prep = (cpu() - c0) / len(files)
            kb = sum(os.path.getsize(o) for o in outs) / len(outs) / 1e3
            rows.append((prof.name, kb, decode_cost(outs), prep))
            print(f"  {prof.name}: {kb:.0f} KB, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    base = rows[0][2]
    print("| setting | KB per video | CPU-ms per clip | vs source | prepare CPU-s per video |")
    print("|---|---|---|---|---|")
    for name, kb, c, prep in rows:
        print(f"| {name} | {kb:.0f} | {1e3 * c:.1f} | {c / base:.2f}x | "
              f"{'-' if prep is None else f'{prep:.2f}'} |")


if __name__ == "__main__":
    main()
