"""``zelda data prepare RECIPE --out DIR``: a verified random-access copy of a dataset."""

from __future__ import annotations

import argparse
import os


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prepare", help="re-encode a recipe's videos into a fast random-access copy",
        description="Re-encode every video of the recipe's splits into OUT with the same "
        "relative paths, annotation files and label map, so that --set data.root=OUT is the "
        "only change a recipe needs. Each copy is verified (frame count, frame rate, "
        "timestamps, sampled frames) before it counts; undecodable sources are reported and "
        "their annotation lines set aside in OUT/prepare_failed.txt. Re-running skips what "
        "is done, redoes what changed and resumes after a kill. See docs/data.md.")
    p.add_argument("recipe", help="path to a .toml recipe")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write the copy to")
    p.add_argument("--short-side", type=int, default=256, metavar="N",
                   help="short side of the copies in pixels; never upscales; 0 = native "
                        "(default 256)")
    p.add_argument("--profile", default="random-access",
                   choices=["random-access", "compact", "copy"],
                   help="random-access: every frame a keyframe (fastest sampled decoding, "
                        "default); compact: keyframe every 16 frames (about half the disk); "
                        "copy: rewrap the packets unchanged (no resize)")
    p.add_argument("--workers", type=int, default=_cores(), metavar="N",
                   help=f"encoding processes (default: all cores, here {_cores()})")
    p.add_argument("--splits", default=None, metavar="A,B",
                   help="comma-separated splits (default: every split the recipe defines)")
    p.add_argument("--shard", default=None, metavar="I/N",
                   help="do share I of N (I from 0 to N-1), e.g. one per SLURM array task; "
                        "the copy is complete when every share has run")
    p.add_argument("--format", default="files", choices=["files", "shards"],
                   help="files: the same tree of videos (default); shards: WebDataset tar "
                        "shards plus shards.json (sizes, checksums, every sample's label and "
                        "offset) for streaming from object storage (docs/data.md)")
    p.add_argument("--shard-size", type=float, default=256, metavar="MB",
                   help="with --format shards: bytes of video per tar, in MB (default 256)")
    p.add_argument("--log-every", type=int, default=0, metavar="N",
                   help="without a terminal, print progress every N videos (default: ~20 lines)")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON at the end")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a recipe value, e.g. --set data.root=../data (VALUE is TOML; repeatable)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from zelda_core.api import ZeldaError, build_dataset, load_recipe

    from .encode import MIN_SHORT_SIDE
    from .prepare import Options, parse_shard, plan, run_prepare, summary_lines

    if args.workers < 1:
        raise ZeldaError("--workers must be at least 1")
    if args.short_side < 0 or 0 < args.short_side < MIN_SHORT_SIDE:
        raise ZeldaError(f"--short-side must be at least {MIN_SHORT_SIDE} (copies are verified "
                         f"on {MIN_SHORT_SIDE}x{MIN_SHORT_SIDE} thumbnails) or 0 to keep the "
                         f"native size, got {args.short_side}")
    if not args.shard_size > 0:
        raise ZeldaError(f"--shard-size must be a positive number of MB, got {args.shard_size}")
    shard = parse_shard(args.shard)
    recipe = load_recipe(args.recipe, args.overrides)
    data = recipe.data.get("data") or {}
    defined = [k for k, v in data.items() if isinstance(v, dict) and "type" in v]
    splits = [s.strip() for s in args.splits.split(",") if s.strip()] if args.splits else defined
    if not splits:
        raise ZeldaError(f"{args.recipe}: no [data.<split>] table with a type to prepare")
    datasets = {s: build_dataset(recipe, s) for s in splits}
    manifest = run_prepare(
        plan(datasets),
        Options(out=args.out, profile=args.profile, short_side=args.short_side or None,
                workers=args.workers, shard=shard, log_every=args.log_every,
                format=args.format, shard_bytes=max(1, int(args.shard_size * 1e6))),
        recipe=os.path.abspath(args.recipe),
    )
    if args.json:
        print(json.dumps({k: v for k, v in manifest.items() if k != "videos"}, indent=2))
    else:
        for line in summary_lines(manifest):
            print(line.replace("<out>", args.out))
    return 1 if manifest["failed"] or manifest.get("errors") else 0
