"""``zelda data check``: open every listed video, report what would break training."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from .common import add_set_argument


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    check = subparsers.add_parser(
        "check", help="open every video of the recipe's splits with its decoder",
        description="Validate the annotation files, open every listed video with the recipe's "
                    "decoder, and report unreadable files (with the reason), videos too short "
                    "for a clip and the class histogram. Exits 1 if anything is wrong.")
    check.add_argument("recipe", help="path to a .toml recipe")
    check.add_argument("--split", default=None,
                       help="comma-separated splits (default: every split the recipe defines)")
    check.add_argument("--workers", type=int, default=0, help="processes opening videos (default 0)")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    add_set_argument(check)
    check.set_defaults(func=run)


def _probe(job: tuple[str, Callable[[str], Any]]) -> tuple[str, int | None, str | None]:
    """(path, frames, error): open the video with the dataset's opener and decode its
    first and last frame."""
    path, opener = job
    try:
        with opener(path) as reader:
            n = int(reader.num_frames)
            if n <= 0:
                return path, 0, "no decodable frame"
            reader.get_frames([0, n - 1])
            return path, n, None
    except Exception as exc:  # noqa: BLE001 - every failure is reported
        reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
        return path, None, str(reason)


def _min_frames(dataset: Any) -> int:
    need = 1
    for t in getattr(getattr(dataset, "pipeline", None), "transforms", []):
        if hasattr(t, "min_frames"):
            need = max(need, int(t.min_frames()))
    return need


def check_split(recipe: Any, split: str, workers: int = 0) -> dict[str, Any]:
    """The report of one split: videos, classes histogram, unreadable and short videos."""
    from .._data import build_dataset
    from .._errors import ZeldaError
    from .._video import VideoOpener

    try:
        ds = build_dataset(recipe, split)
    except ZeldaError as exc:
        return {"videos": 0, "error": str(exc), "unreadable": [], "too_short": [], "classes": {}}
    opener = getattr(ds, "opener", None) or VideoOpener(getattr(ds, "decoder", None))
    jobs = [(path, opener) for path, _ in ds.records]
    if workers > 0:
        import multiprocessing as mp

        with mp.get_context().Pool(workers) as pool:
            results = pool.map(_probe, jobs, chunksize=1)
    else:
        results = [_probe(j) for j in jobs]
    need = _min_frames(ds)
    histogram = {name: 0 for name in ds.classes}
    for _, label in ds.records:
        histogram[ds.classes[label]] += 1
    sources = getattr(ds, "sources", [""] * len(ds.records))
    unreadable = [{"file": p, "where": src, "reason": err}
                  for (p, n, err), src in zip(results, sources) if err]
    short = [{"file": p, "where": src, "frames": n, "needed": need}
             for (p, n, err), src in zip(results, sources) if not err and n is not None and n < need]
    return {"videos": len(ds), "error": None, "classes": histogram, "unreadable": unreadable,
            "too_short": short, "frames_needed": need}


def run(args: argparse.Namespace) -> int:
    from .._recipe import load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    data = recipe.data.get("data") or {}
    defined = [k for k, v in data.items() if isinstance(v, dict) and "type" in v]
    splits = [s.strip() for s in args.split.split(",") if s.strip()] if args.split else defined
    report = {s: check_split(recipe, s, args.workers) for s in splits}
    ok = all(not r["error"] and not r["unreadable"] and not r["too_short"] for r in report.values())
    if not splits:
        ok = False
    if args.json:
        print(json.dumps({"recipe": args.recipe, "ok": ok, "splits": report}, indent=2))
        return 0 if ok else 1
    if not splits:
        print(f"{args.recipe}: no [data.<split>] table with a type")
    for split, r in report.items():
        print(f"data.{split}: {r['videos']} videos")
        if r["error"]:
            print("  " + r["error"].replace("\n", "\n  "))
            continue
        total = max(sum(r["classes"].values()), 1)
        for name, n in r["classes"].items():
            print(f"  {n:6d}  {100 * n / total:5.1f}%  {name}")
        for u in r["unreadable"]:
            print(f"  unreadable: {u['where']}: {u['file']}: {u['reason']}")
        for s in r["too_short"]:
            print(f"  too short: {s['where']}: {s['file']}: {s['frames']} frames, a clip needs "
                  f"{s['needed']} (frames wrap by the sampler's out-of-bound rule)")
        bad = len(r["unreadable"]) + len(r["too_short"])
        print(f"  {'ok' if not bad else f'{bad} problem(s)'}")
    print("ok" if ok else "problems found")
    return 0 if ok else 1
