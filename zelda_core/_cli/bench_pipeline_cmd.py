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
    p.add_argument("--split", action="append", default=[],
                   help="split to run (default train); repeat it to compare pipelines side by "
                        "side over their videos, in alternating rounds")
    p.add_argument("--limit", type=int, default=None, help="first N videos only")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_decoder_argument(p, repeat=True)
    p.add_argument("--rounds", type=int, default=1,
                   help="with several --decoder or --split: alternating rounds, the median "
                        "reported (default 1)")
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
    args.split = list(dict.fromkeys(args.split)) or ["train"]
    if len(args.decoder) > 1 and len(args.split) > 1:
        raise ZeldaError("compare either decoders (several --decoder) or pipelines (several "
                         "--split), not both at once")
    if len(args.decoder) > 1 or len(args.split) > 1:
        return _compare(args)
    overrides = args.overrides + [decoder_override(d) for d in args.decoder]
    recipe = load_recipe(args.recipe, overrides)
    args.split = args.split[0]
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
    """Each decoder (or each split's pipeline) over the same recipe in this process,
    alternating for ``--rounds`` rounds (load changes hit every one alike); medians side by
    side, ratios to the first."""
    import statistics

    from .._recipe import load_recipe

    if len(args.split) > 1:
        what = "split"
        base = load_recipe(args.recipe, [*args.overrides, *map(decoder_override, args.decoder)])
        cases = {s: (base, s) for s in args.split}
    else:
        what = "decoder"
        cases = {d: (load_recipe(args.recipe, [*args.overrides, decoder_override(d)]), args.split[0])
                 for d in args.decoder}
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in cases}
    for _ in range(args.rounds):
        for c, (recipe, split) in cases.items():
            runs[c].append(bench(recipe, split, args.limit))
    cpu = {c: statistics.median(r["cpu_s_per_video"] for r in rs) for c, rs in runs.items()}
    first = next(iter(cases))
    rows = [{what: c, "rounds": args.rounds, "videos": rs[0]["videos"],
             "cpu_s_per_video": round(cpu[c], 5),
             "cpu_s_per_video_rounds": [r["cpu_s_per_video"] for r in rs],
             "vs_first": round(cpu[c] / cpu[first], 3) if cpu[first] else None,
             "transforms": rs[-1]["transforms"]}
            for c, rs in runs.items()]
    if args.json:
        print(json.dumps(rows))
        return 0
    where = f"data.{args.split[0]}" if what == "decoder" else f"decoder {args.decoder or 'of the recipe'}"
    print(f"{args.recipe} {where}: {rows[0]['videos']} videos, {args.rounds} "
          f"alternating round(s), median CPU-s per video")
    for r in rows:
        print(f"  {r[what]:<12} {r['cpu_s_per_video']:.4f}  ({r['vs_first']:.2f}x {first})  "
              f"rounds: {', '.join(f'{c:.4f}' for c in r['cpu_s_per_video_rounds'])}")
    return 0
