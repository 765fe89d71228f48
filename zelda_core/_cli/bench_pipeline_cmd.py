"""``zelda bench pipeline``: CPU cost of a split's pipeline, per video and per transform."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..api import DEFAULT_DECODER
from .common import add_set_argument


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
    from .._recipe import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
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
