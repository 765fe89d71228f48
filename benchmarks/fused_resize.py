"""Fused decode+resize against decoding at full size and resizing after (the unfused
path, MMAction2's: RGB first, then bilinear), on the frames of real clips.

For every video of DIR, 8 frames spread over the video, each decoder, and each short
side: the signed difference fused - unfused per channel (mean), the 99th percentile and
maximum of its magnitude, the share of values that differ, and the CPU seconds of each
path (single process, single thread). ``one-call`` is the fusion zelda had before
(scaling inside swscale's YUV->RGB conversion, one sws_scale call), for comparison.
Then the CPU cost of the colour conversion and resize alone (frames decoded beforehand,
every 10th frame, at most 8 per video, 2 passes, the second timed) for one-call and for
the fused path now, in DIR and in each --cost-dir. Prints JSON lines and tables.

usage: python benchmarks/fused_resize.py [DIR] [--sizes 224 288] [--cost-dir D --cost-size 256]
  DIR defaults to ../shared/data/kinetics2_tiny/val.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from zelda_transforms.geometry import resize_frames

from zelda_core.api import open_video, resolve_size

REPO = Path(__file__).resolve().parents[1]


def one_call(path: str, ids: list[int], h: int, w: int) -> np.ndarray:
    """The old fusion: scale inside the YUV->RGB sws_scale call (PyAV, sequential)."""
    import av
    from av.video.reformatter import Interpolation, VideoReformatter

    r, want, out = VideoReformatter(), set(ids), {}
    with av.open(path) as c:
        for n, f in enumerate(c.decode(video=0)):
            if n in want:
                out[n] = r.reformat(f, width=w, height=h, format="rgb24",
                                    interpolation=Interpolation.BILINEAR, threads=1).to_ndarray()
    return np.stack([out[i] for i in ids])


def conversion_costs(videos: list[str], short: int) -> dict:
    """ms/frame of converting decoded frames to RGB at ``short``: one-call vs now."""
    import av
    from av.video.reformatter import Interpolation, VideoReformatter

    from zelda_decoding.rgb import frame_to_rgb

    frames = []
    for v in videos:
        with av.open(v) as c:
            frames += [f for n, f in enumerate(c.decode(video=0)) if n % 10 == 0][:8]
    r, t = VideoReformatter(), {"one_call": 0.0, "fused": 0.0}
    for rep in range(2):
        for f in frames:
            h, w = resolve_size(f.height, f.width, short)
            c0 = time.process_time()
            r.reformat(f, width=w, height=h, format="rgb24", interpolation=Interpolation.BILINEAR,
                       threads=1).to_ndarray()
            c1 = time.process_time()
            frame_to_rgb(f, h, w)
            c2 = time.process_time()
            if rep:
                t["one_call"] += c1 - c0
                t["fused"] += c2 - c1
    return {k: round(v / len(frames) * 1000, 2) for k, v in t.items()} | {"frames": len(frames)}


def stats(diffs: list[np.ndarray]) -> dict:
    d = np.concatenate([x.reshape(-1, 3) for x in diffs]).astype(np.int16)
    a = np.abs(d)
    return {"mean_signed_rgb": [round(float(v), 3) for v in d.mean(0)],
            "p99_abs": float(np.percentile(a, 99)), "max_abs": int(a.max()),
            "differ_pct": round(float((a > 0).mean() * 100), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", nargs="?", default=str(REPO.parent / "shared/data/kinetics2_tiny/val"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[224, 288])
    ap.add_argument("--decoders", nargs="+", default=["pyav", "decord"])
    ap.add_argument("--cost-dir", nargs="*", default=[str(REPO.parent / "shared/data/videos/real")])
    ap.add_argument("--cost-size", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(1)
    videos = sorted(str(p) for p in Path(args.dir).glob("*.mp4"))
    rows = []
    for decoder in args.decoders:
        for short in args.sizes:
            fused_d, old_d, t_f, t_u, n = [], [], 0.0, 0.0, 0
            for v in videos:
                with open_video(v, decoder=decoder) as r:
                    ids = np.linspace(0, r.num_frames - 1, 8).astype(int).tolist()
                    h, w = resolve_size(r.height, r.width, short)
                    r.get_frames(ids[:1])  # open/seek costs out of the timing
                    c0 = time.process_time()
                    unfused = resize_frames(r.get_frames(ids), (h, w))
                    c1 = time.process_time()
                    fused = r.get_frames(ids, size=short)
                    c2 = time.process_time()
                t_u += c1 - c0
                t_f += c2 - c1
                n += len(ids)
                fused_d.append(fused.astype(np.int16) - unfused)
                if decoder == "pyav":
                    old_d.append(one_call(v, ids, h, w).astype(np.int16) - unfused)
            row = {"decoder": decoder, "short_side": short, "videos": len(videos), "frames": n,
                   "fused": stats(fused_d),
                   "cpu_ms_per_frame": {"unfused": round(t_u / n * 1000, 2),
                                        "fused": round(t_f / n * 1000, 2)}}
            if old_d:
                row["one_call"] = stats(old_d)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| decoder | short side | path | mean signed R, G, B | p99 | max | differ | CPU ms/frame |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        cpu = r["cpu_ms_per_frame"]
        for name in ("one_call", "fused"):
            if name in r:
                s = r[name]
                m = ", ".join(f"{v:+.2f}" for v in s["mean_signed_rgb"])
                t = f"{cpu['fused']} (unfused {cpu['unfused']})" if name == "fused" else "-"
                print(f"| {r['decoder']} | {r['short_side']} | {name} | {m} | {s['p99_abs']:.0f} | "
                      f"{s['max_abs']} | {s['differ_pct']}% | {t} |")
    print("\n| frames | short side | one-call ms/frame | fused now ms/frame | ratio |")
    print("|---|---|---|---|---|")
    jobs = [(args.dir, s) for s in args.sizes] + [(d, args.cost_size) for d in args.cost_dir]
    for d, short in jobs:
        vids = sorted(str(p) for p in Path(d).iterdir() if p.suffix in (".mp4", ".avi", ".mkv"))
        c = conversion_costs(vids, short)
        print(json.dumps({"cost_dir": d, "short_side": short, **c}), flush=True)
        print(f"| {Path(d).name} ({c['frames']}) | {short} | {c['one_call']} | {c['fused']} | "
              f"{c['fused'] / c['one_call']:.2f}x |")


if __name__ == "__main__":
    main()
