"""``zelda data check``: one pass over a recipe's splits reports everything that would
break training: annotation lines, missing files, unreadable, truncated and corrupt videos,
videos too short for a clip, and the label counts."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from .common import add_set_argument

FULL_CHUNK = 32
"""Frames decoded per call in ``--full`` mode (small, at a small size: memory stays low)."""
FULL_SIZE = 64
"""Short side the ``--full`` mode decodes at: every frame is decoded, converting is cheap."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    check = subparsers.add_parser(
        "check", help="check annotations and every video of the recipe's splits",
        description="Validate the annotation files (every bad line and missing file is listed), "
                    "open every listed video with the recipe's decoder and report unreadable, "
                    "truncated and corrupt files (with the reason), videos too short for a clip "
                    "and the label counts, all in one pass. The default mode decodes each video's "
                    "first and last frame; --full decodes every frame. Exits 1 if anything is "
                    "wrong.")
    check.add_argument("recipe", help="path to a .toml recipe")
    check.add_argument("--split", default=None,
                       help="comma-separated splits (default: every split the recipe defines)")
    check.add_argument("--full", action="store_true",
                       help="decode every frame of every video (finds damage mid-stream; costs "
                            "about one full decode of the data set)")
    check.add_argument("--workers", type=int, default=0, help="processes opening videos (default 0)")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    add_set_argument(check)
    check.set_defaults(func=run)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else f"{type(exc).__name__}: {exc}"


def _first_bad(reader: Any, start: int, stop: int) -> tuple[int, str]:
    """The first frame in ``[start, stop)`` that does not decode, and why."""
    for i in range(start, stop):
        try:
            reader.get_frames([i], size=FULL_SIZE)
        except Exception as exc:  # noqa: BLE001 - the reason is the report
            return i, _reason(exc)
    return stop, ""


def _probe(job: tuple[str, Any, bool]) -> dict[str, Any]:
    """Open one video and decode its first and last frame (``full``: every frame).

    Returns ``{"file", "frames", "decoded", "problem", "reason"}``; ``problem`` is None,
    "unreadable", "truncated" (the frames from some point to the end do not decode) or
    "corrupt" (a frame in the middle does not decode, later ones do)."""
    path, opener, full = job
    out: dict[str, Any] = {"file": path, "frames": None, "decoded": 0, "problem": None, "reason": None}
    try:
        reader = opener(path)
    except Exception as exc:  # noqa: BLE001 - every failure is reported
        return {**out, "problem": "unreadable", "reason": _reason(exc)}
    try:
        n = int(reader.num_frames)
        out["frames"] = n
        if n <= 0:
            return {**out, "problem": "unreadable", "reason": "no decodable frame"}
        info = reader.info() if hasattr(reader, "info") else {}
        if isinstance(info, dict) and info.get("truncated"):  # the decoder saw it at open
            detail = info.get("truncated")
            return {**out, "problem": "truncated",
                    "reason": detail if isinstance(detail, str) else "the file is cut short"}
        try:
            reader.get_frames([0], size=FULL_SIZE if full else None)
        except Exception as exc:  # noqa: BLE001
            return {**out, "problem": "unreadable", "reason": f"frame 0 does not decode: {_reason(exc)}"}
        out["decoded"] = 1
        if full:
            for start in range(0, n, FULL_CHUNK):
                stop = min(n, start + FULL_CHUNK)
                try:
                    reader.get_frames(list(range(start, stop)), size=FULL_SIZE)
                except Exception:  # noqa: BLE001 - located frame by frame below
                    bad, reason = _first_bad(reader, start, stop)
                    return {**out, **_classify(reader, bad, n, reason)}
                out["decoded"] = stop
            return out
        if n > 1:
            try:
                reader.get_frames([n - 1])
            except Exception as exc:  # noqa: BLE001
                return {**out, "problem": "truncated",
                        "reason": f"its last frame ({n - 1} of {n} listed) does not decode, so "
                                  f"the file is cut short or damaged near its end: {_reason(exc)}"}
            out["decoded"] = 2
        return out
    finally:
        try:
            reader.close()
        except Exception:  # noqa: BLE001, S110 - the report is already made
            pass


def _classify(reader: Any, bad: int, n: int, reason: str) -> dict[str, Any]:
    """Truncated (nothing decodes from ``bad`` on) or corrupt (the last frame decodes)."""
    last_ok = bad < n - 1
    if last_ok:
        try:
            reader.get_frames([n - 1], size=FULL_SIZE)
        except Exception:  # noqa: BLE001
            last_ok = False
    if last_ok:
        return {"decoded": bad, "problem": "corrupt",
                "reason": f"frame {bad} of {n} does not decode (later frames do): {reason}"}
    return {"decoded": bad, "problem": "truncated",
            "reason": f"frames {bad} to {n - 1} of {n} listed do not decode (the file is cut "
                      f"short or damaged from there on): {reason}"}


def _min_frames(dataset: Any) -> int:
    need = 1
    for t in getattr(getattr(dataset, "pipeline", None), "transforms", []):
        if hasattr(t, "min_frames"):
            need = max(need, int(t.min_frames()))
    return need


def _empty(error: str, annotation: list[str]) -> dict[str, Any]:
    return {"videos": 0, "error": error, "annotation": annotation, "missing": [], "unreadable": [],
            "truncated": [], "corrupt": [], "too_short": [], "classes": {}, "frames": 0,
            "frames_decoded": 0}


def check_split(recipe: Any, split: str, workers: int = 0, full: bool = False,
                classes: list[str] | None = None) -> dict[str, Any]:
    """The report of one split: every annotation problem, missing, unreadable, truncated,
    corrupt and too-short video, and the label histogram. ``classes`` (the train split's)
    number a split whose class names come from its own table, as a run does."""
    import os

    from .._data import build_dataset
    from .._data.dataset import check_files, collecting_problems
    from .._errors import ZeldaError
    from .._userfile import expect_file
    from .._video import VideoOpener

    with collecting_problems() as problems:
        try:
            ds = build_dataset(recipe, split)
            if classes and hasattr(ds, "adopt_classes"):
                ds.adopt_classes(classes)
        except ZeldaError as exc:
            return _empty(str(exc), list(problems))
    records = list(ds.records)
    sources = list(getattr(ds, "sources", None) or [""] * len(records))
    missing_lines = check_files(records, sources)
    annotation = [p for p in dict.fromkeys(problems) if p not in set(missing_lines)]
    local_file = getattr(ds, "local_file", None)
    if callable(local_file):  # records name remote samples (shards): fetch each one
        annotation = list(dict.fromkeys(problems))
        missing, local = [], {}
        for i, (p, _) in enumerate(records):
            try:
                local[i] = local_file(i)
            except ZeldaError as exc:
                missing.append({"file": p, "where": sources[i], "reason": str(exc)})
        present = [(i, local[i]) for i in sorted(local)]
    else:
        missing = [{"file": p, "where": src, "reason": expect_file(p, "video", "a video file")}
                   for (p, _), src in zip(records, sources) if not os.path.isfile(p)]
        present = [(i, p) for i, (p, _) in enumerate(records) if os.path.isfile(p)]
    opener = getattr(ds, "opener", None) or VideoOpener(getattr(ds, "decoder", None))
    jobs = [(p, opener, full) for _, p in present]
    if workers > 0 and jobs:
        import multiprocessing as mp

        with mp.get_context().Pool(workers) as pool:
            results = pool.map(_probe, jobs, chunksize=1)
    else:
        results = [_probe(j) for j in jobs]
    need = _min_frames(ds)
    histogram = {name: 0 for name in ds.classes}
    for _, label in records:
        for one in label if isinstance(label, tuple) else (label,):  # a multi-label record: each
            if 0 <= one < len(ds.classes):  # others are listed as annotation problems
                histogram[ds.classes[one]] += 1
    found: dict[str, list[dict[str, Any]]] = {"unreadable": [], "truncated": [], "corrupt": []}
    short = []
    for (i, _), r in zip(present, results):
        r["file"] = records[i][0]  # the record's name, not a cache file
        if r["problem"]:
            found[r["problem"]].append({"file": r["file"], "where": sources[i], "reason": r["reason"]})
        elif r["frames"] is not None and r["frames"] < need:
            short.append({"file": r["file"], "where": sources[i], "frames": r["frames"], "needed": need})
    return {"videos": len(records), "error": None, "annotation": annotation, "missing": missing,
            "classes": histogram, **found, "too_short": short, "frames_needed": need,
            "frames": sum(r["frames"] or 0 for r in results),
            "frames_decoded": sum(r["decoded"] for r in results)}


def _compare_classes(report: dict[str, dict[str, Any]]) -> None:
    """An annotation problem for each split whose classes a model trained on data.train
    could not score (what ``zelda run`` refuses)."""
    from .._data.dataset import classes_mismatch

    train = report.get("train")
    if not train or train["error"]:
        return
    for split, r in report.items():
        if split != "train" and not r["error"]:
            problem = classes_mismatch(list(train["classes"]), list(r["classes"]), split)
            if problem:
                r["annotation"].append(problem)


def _problems(r: dict[str, Any]) -> int:
    return (bool(r["error"]) + len(r["annotation"]) + len(r["missing"]) + len(r["unreadable"])
            + len(r["truncated"]) + len(r["corrupt"]) + len(r["too_short"]))


def coverage(report: dict[str, dict[str, Any]], full: bool, seconds: float) -> str:
    """What was checked and what it cost, so a quick "ok" is not read as more than it is."""
    frames = sum(r["frames"] for r in report.values())
    decoded = sum(r["frames_decoded"] for r in report.values())
    share = f"{100 * decoded / frames:.1f}%" if frames else "0%"
    if full:
        return (f"full check: every frame decoded ({decoded} of {frames} frames) in "
                f"{seconds:.1f} s")
    return (f"quick check: each video opened and its first and last frame decoded ({decoded} of "
            f"{frames} frames, {share}) in {seconds:.1f} s; damage between them is not seen: "
            f"--full decodes every frame (about one full decode of the data set)")


def run(args: argparse.Namespace) -> int:
    from .._errors import ZeldaError
    from .._recipe import load_recipe

    if args.workers < 0:
        raise ZeldaError(f"--workers must be >= 0, got {args.workers}")
    recipe = load_recipe(args.recipe, args.overrides)
    data = recipe.data.get("data") or {}
    defined = [k for k, v in data.items() if isinstance(v, dict) and "type" in v]
    splits = [s.strip() for s in args.split.split(",") if s.strip()] if args.split else defined
    t0 = time.perf_counter()
    report: dict[str, dict[str, Any]] = {}
    for s in sorted(splits, key=lambda name: name != "train"):  # train first: its classes
        train = report.get("train")
        report[s] = check_split(recipe, s, args.workers, args.full,
                                classes=list(train["classes"]) if train and not train["error"] else None)
    report = {s: report[s] for s in splits}
    seconds = time.perf_counter() - t0
    _compare_classes(report)
    ok = bool(splits) and all(_problems(r) == 0 for r in report.values())
    if args.json:
        print(json.dumps({"recipe": args.recipe, "ok": ok, "full": args.full, "seconds": round(seconds, 2),
                          "splits": report}, indent=2))
        return 0 if ok else 1
    if not splits:
        print(f"{args.recipe}: no [data.<split>] table with a type")
    for split, r in report.items():
        print(f"data.{split}: {r['videos']} videos")
        if r["error"]:
            print("  " + r["error"].replace("\n", "\n  "))
        total = max(sum(r["classes"].values()), 1)
        for name, n in r["classes"].items():
            print(f"  {n:6d}  {100 * n / total:5.1f}%  {name}")
        for line in r["annotation"]:
            print(f"  annotation: {line}")
        for m in r["missing"]:
            print(f"  missing: {m['where']}: {m['reason'] or 'video not found: ' + m['file']}")
        for kind in ("unreadable", "truncated", "corrupt"):
            for u in r[kind]:
                print(f"  {kind}: {u['where']}: {u['file']}: {u['reason']}")
        for s in r["too_short"]:
            print(f"  too short: {s['where']}: {s['file']}: {s['frames']} frames, a clip needs "
                  f"{s['needed']} (frames wrap by the sampler's out-of-bound rule)")
        bad = _problems(r)
        print(f"  {'ok' if not bad else f'{bad} problem(s)'}")
    if splits:
        print(coverage(report, args.full, seconds))
    print("ok" if ok else "problems found")
    return 0 if ok else 1
