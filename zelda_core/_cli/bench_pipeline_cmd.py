"""``zelda bench pipeline``: CPU cost of a split's pipeline, per video and per transform."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..api import DEFAULT_DECODER
from .common import add_decoder_argument, add_set_argument, decoder_override


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pipeline", help="time a recipe's data pipeline in one process",
        description="Run the pipeline of one split over its videos in this process (no loader, "
                    "no workers) and report videos/s, CPU seconds per video (getrusage: all "
                    "threads) and each transform's share of the time.")
    p.add_argument("recipe", help="path to a .toml recipe")
    p.add_argument("--split", default="train", help="split to run (default train)")
    p.add_argument("--limit", type=int, default=None, help="first N videos only")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_decoder_argument(p, repeat=True)
    p.add_argument("--rounds", type=int, default=1,
                   help="with several --decoder: alternating rounds, the median reported "
                        "(default 1)")
    add_set_argument(p)
    p.set_defaults(func=run)


def _cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _import_decoder(name: str) -> None:
    """Import the decoder plugin's module now, so its import is not timed as a transform."""
    from .._registry import get_component, resolve_factory

    resolve_factory(get_component("decoders", name))


def bench(recipe: Any, split: str, limit: int | None = None) -> dict[str, Any]:
    """Measure ``split``'s pipeline; returns the JSON report."""
    import time

    import torch  # noqa: F401 - imported before timing, as any real run has it

    from .._data import build_dataset
    from .._errors import ZeldaError

    if limit is not None and limit < 1:
        raise ZeldaError(f"--limit must be at least 1 (videos to measure), got {limit}")
    ds = build_dataset(recipe, split)
    _import_decoder(getattr(ds, "decoder", {}).get("type", DEFAULT_DECODER))
    n = len(ds) if limit is None else max(0, min(limit, len(ds)))
    timings: dict[str, float] = {}
    c0, t0 = _cpu(), time.perf_counter()
    shape = None
    for i in range(n):
        out = ds.pipeline(ds.raw_sample(i, 0), timings)
        shape = list(out["inputs"].shape) if isinstance(out, dict) and "inputs" in out else shape
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    total = sum(timings.values()) or 1.0
    return {
        "split": split, "videos": n,
        "videos_per_s": round(n / wall, 3) if wall > 0 else None,
        "wall_s_per_video": round(wall / n, 5) if n else None,
        "cpu_s_per_video": round(cpu / n, 5) if n else None,
        "transforms": {k: round(v / total, 4) for k, v in timings.items()},
        "pipeline": list(getattr(ds.pipeline, "names", [])),
        "shape": shape,
    }


def run(args: argparse.Namespace) -> int:
    from .._errors import ZeldaError
    from .._recipe import load_recipe

    if args.limit is not None and args.limit < 1:
        raise ZeldaError(f"--limit must be at least 1 (videos to measure), got {args.limit}")
    if args.rounds < 1:
        raise ZeldaError("--rounds must be at least 1")
    args.decoder = list(dict.fromkeys(args.decoder))  # each backend once
    if len(args.decoder) > 1:
        return _compare(args)
    overrides = args.overrides + [decoder_override(d) for d in args.decoder]
    recipe = load_recipe(args.recipe, overrides)
    r = bench(recipe, args.split, args.limit)
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"{args.recipe} data.{args.split}: {r['videos']} videos, output {r['shape']}")
    print(f"  {r['videos_per_s']} videos/s, {r['cpu_s_per_video']} CPU-s/video, "
          f"{r['wall_s_per_video']} wall-s/video")
    for name, share in r["transforms"].items():
        print(f"  {100 * share:5.1f}%  {name}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    """Each decoder over the same videos in this process, alternating for ``--rounds``
    rounds (load changes hit every backend alike); medians side by side, ratios to the
    first decoder."""
    import statistics

    from .._recipe import load_recipe

    recipes = {d: load_recipe(args.recipe, [*args.overrides, decoder_override(d)])
               for d in args.decoder}
    runs: dict[str, list[dict[str, Any]]] = {d: [] for d in args.decoder}
    for _ in range(args.rounds):
        for d in args.decoder:
            runs[d].append(bench(recipes[d], args.split, args.limit))
    cpu = {d: statistics.median(r["cpu_s_per_video"] for r in rs) for d, rs in runs.items()}
    first = args.decoder[0]
    rows = [{"decoder": d, "rounds": args.rounds, "videos": rs[0]["videos"],
             "cpu_s_per_video": round(cpu[d], 5),
             "cpu_s_per_video_rounds": [r["cpu_s_per_video"] for r in rs],
             "vs_first": round(cpu[d] / cpu[first], 3) if cpu[first] else None}
            for d, rs in runs.items()]
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{args.recipe} data.{args.split}: {rows[0]['videos']} videos, {args.rounds} "
          f"alternating round(s), median CPU-s per video")
    for r in rows:
        print(f"  {r['decoder']:<12} {r['cpu_s_per_video']:.4f}  ({r['vs_first']:.2f}x {first})  "
              f"rounds: {', '.join(f'{c:.4f}' for c in r['cpu_s_per_video_rounds'])}")
    return 0
