"""Where the decord reader's CPU goes, per clip of the tutorial's sampling (1x16, short side 256).

Per clip of each file the reader feeds (files with timestamps), it times, single process: building the in-memory streams (``Feeder.runs``: demux,
NAL headers, remux), opening them in decord, and decord's decoding; then PyAV decoding
the very same streams without colour conversion, so the per-frame ratio compares the
two FFmpeg builds on identical packets. Prints one JSON line.

usage: python benchmarks/decord_feed_costs.py [DIR] [--rounds N]
  DIR defaults to ../shared/data/kinetics2_tiny/train.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import av
import decord
import numpy as np
from zelda_decord.feed import Feeder
from zelda_pyav.bench_decode import cpu_seconds, find_videos, tutorial_indices

from zelda_core._video import resolve_size
from zelda_decoding.index import get_index

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?", default=str(REPO.parent / "shared/data/kinetics2_tiny/train"))
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    cost = {"feed": 0.0, "decord_open": 0.0, "decord_decode": 0.0, "pyav_decode_same_packets": 0.0}
    clips = packets = 0
    for _ in range(args.rounds):
        for path in map(str, find_videos([args.dir])):
            idx = get_index(path)
            if not idx.by_pts:  # read by decord itself, not fed (see docs/decoders.md)
                continue
            frames = sorted(set(tutorial_indices(idx.num_frames, 16, 1, rng).tolist()))
            h, w = resolve_size(idx.height, idx.width, 256)
            c0 = cpu_seconds()
            feeder = Feeder(path, idx)
            runs = feeder.runs(frames)
            feeder.close()
            cost["feed"] += cpu_seconds() - c0
            for run in runs:
                c0 = cpu_seconds()
                vr = decord.VideoReader(io.BytesIO(run.data), width=w, height=h, num_threads=1)
                c1 = cpu_seconds()
                vr.get_batch(run.ranks).asnumpy()
                del vr
                c2 = cpu_seconds()
                with av.open(io.BytesIO(run.data)) as c:
                    c.streams.video[0].codec_context.thread_count = 1
                    for _frame in c.decode(video=0):
                        pass
                cost["decord_open"] += c1 - c0
                cost["decord_decode"] += c2 - c1
                cost["pyav_decode_same_packets"] += cpu_seconds() - c2
                packets += run.packets
            clips += 1
    out = {f"{k}_ms_per_clip": round(1000 * v / clips, 2) for k, v in cost.items()}
    out["packets_per_clip"] = round(packets / clips, 1)
    out["decord_over_pyav_per_frame"] = round(cost["decord_decode"] / cost["pyav_decode_same_packets"], 3)
    print(json.dumps({"dir": args.dir, "clips": clips, **out}))


if __name__ == "__main__":
    main()
