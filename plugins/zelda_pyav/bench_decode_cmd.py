"""``zelda bench decode FILES_OR_DIR``: CPU per clip of exact decoding, against the floor."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "decode",
        help="CPU seconds per clip of each decoder, and the decode floor",
        description="Decode clips sampled like the tutorial (clip_len frames spread evenly, a "
        "random frame per segment) from every video, resized to --size short side, with each "
        "decoder; report CPU seconds per clip (getrusage), the floor (a single-thread "
        "sequential decode of just the needed frames without colour conversion) and frames "
        "decoded per frame returned.",
    )
    p.add_argument("paths", nargs="+", metavar="FILES_OR_DIR", help="videos or folders of videos")
    p.add_argument("--decoder", action="append", metavar="NAME",
                   help="decoder to measure (repeatable; default: pyav, and decord and torchcodec "
                   "if installed)")
    p.add_argument("--clip-len", type=int, default=16, help="frames per clip (default 16)")
    p.add_argument("--num-clips", type=int, default=1, help="clips per video (default 1)")
    p.add_argument("--size", type=int, default=256, help="output short side; 0 = native (default 256)")
    p.add_argument("--repeat", type=int, default=1, help="passes over the files (default 1)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--no-floor", action="store_true", help="skip measuring the floor")
    p.add_argument("--json", action="store_true", help="one JSON object per decoder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from zelda_core.api import ZeldaError

    from .bench_decode import bench_decode, default_decoders

    if args.clip_len < 1 or args.num_clips < 1 or args.repeat < 1:
        raise ZeldaError("--clip-len, --num-clips and --repeat must be at least 1")
    if args.seed < 0:
        raise ZeldaError(f"--seed must be >= 0, got {args.seed}")
    if args.size < 0:
        raise ZeldaError(f"--size must be >= 0 (0 = native size), got {args.size}")
    results = bench_decode(
        args.paths,
        args.decoder or default_decoders(),
        clip_len=args.clip_len,
        num_clips=args.num_clips,
        size=args.size or None,
        repeat=args.repeat,
        seed=args.seed,
        floor=not args.no_floor,
    )
    if args.json:
        for r in results:
            print(json.dumps(r))
        return 0
    first = results[0]
    print(f"{first['files']} files, {first['clips']} clips of {args.num_clips}x{args.clip_len} "
          f"frames at short side {args.size or 'native'}")
    if first["floor_cpu_s_per_clip"] is not None:
        print(f"floor: {first['floor_cpu_s_per_clip']:.4f} CPU-s per clip, "
              f"{first['floor_frames_decoded_per_frame_returned']} frames decoded per frame returned")
    for r in results:
        ratio = f" ({r['cpu_vs_floor']:.2f}x the floor)" if r["cpu_vs_floor"] else ""
        dec = r["frames_decoded_per_frame_returned"]
        print(f"{r['decoder']}: {r['cpu_s_per_clip']:.4f} CPU-s per clip{ratio}, "
              f"{r['wall_s_per_clip']:.4f} wall-s, "
              f"{'n/a' if dec is None else dec} frames decoded per frame returned, "
              f"RSS +{r['rss_growth_mb']} MB")
    for f in first["failed"]:
        print(f"skipped {f['path']}: {f['reason']}")
    return 0
