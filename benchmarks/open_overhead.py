"""Per-video cost of opening a video in the sample path: checked per video (before) vs once.

Before issue 10 every sample's ``decode``/sampler opened its video with
``open_video(path, name, **options)``, which checked the decoder table (registry lookup,
``check_params`` with ``get_type_hints``) and then called the factory. Now the dataset
checks the table once into a ``VideoOpener`` and a sample only calls it. Both are timed
here side by side, interleaved per round, single process, in CPU seconds:

- ``open``: open + close of each video: ``registry.build("decoders", table, path=p)``
  (the old ``open_video``, unchanged code) against ``opener(p)``;
- ``check``: the table check alone (what the old path repeated per video);
- ``sample``: a whole ``dataset[i]`` (sampling, decode+resize, crop, format, pack) with the
  dataset's opener replaced by one that checks per call (old) against the dataset's own.

Medians (``_us``) and minima (``_min_us``) over rounds, in CPU microseconds per video;
ratios are the median over rounds of after/before within the round. Prints one JSON line.

usage: python benchmarks/open_overhead.py [--recipe R] [--split S] [--rounds N] [--limit K]
  defaults: benchmarks/pipeline/kinetics2_tiny.toml, tutorial_train, 5 rounds, 20 videos.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from zelda_core import _registry as registry
from zelda_core._data import build_dataset
from zelda_core._recipe import load_recipe
from zelda_core._video import VideoOpener

REPO = Path(__file__).resolve().parents[1]


class CheckingOpener(VideoOpener):
    """The old path: check the decoder table, then build, on every call."""

    def __call__(self, path: str):
        return registry.build("decoders", dict(self.spec), path=str(path))


def per_video(fn, items) -> float:
    c0 = time.process_time()
    for item in items:
        fn(item)
    return (time.process_time() - c0) / len(items)


def paired(times: dict[str, list[float]], what: str) -> float:
    """Median over rounds of after/before within the round."""
    return round(statistics.median(
        a / b for a, b in zip(times[f"{what}_after"], times[f"{what}_before"])), 4)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", default=str(REPO / "benchmarks/pipeline/kinetics2_tiny.toml"))
    ap.add_argument("--split", default="tutorial_train")
    ap.add_argument("--decoder", action="append", help="default: pyav and decord")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--limit", type=int, default=20)
    args = ap.parse_args()
    out = {}
    for name in args.decoder or ["pyav", "decord"]:
        recipe = load_recipe(args.recipe, overrides=[f"data.decoder={name}"])
        ds = build_dataset(recipe, args.split)
        paths = [p for p, _ in ds.records[:args.limit]]
        new = ds.opener
        old = CheckingOpener(ds.decoder)
        spec = dict(ds.decoder)
        for i, p in enumerate(paths):  # warm: imports, packet-index disk cache, page cache
            new(p).close()
            ds[i]
        times = {k: [] for k in ("open_before", "open_after", "check", "sample_before", "sample_after")}
        for r in range(args.rounds):
            order = [("before", old), ("after", new)]
            for label, opener in (order if r % 2 == 0 else order[::-1]):
                times[f"open_{label}"].append(per_video(lambda p, o=opener: o(p).close(), paths))
                ds.opener = opener
                times[f"sample_{label}"].append(per_video(lambda i, d=ds: d[i], range(len(paths))))
            times["check"].append(per_video(
                lambda p, s=spec: registry.check("decoders", s, injected=("path",)), paths))
        ds.opener = new
        med = {k: statistics.median(v) for k, v in times.items()}
        best = {k: min(v) for k, v in times.items()}
        out[name] = {
            "videos": len(paths), "rounds": args.rounds,
            **{f"{k}_us": round(v * 1e6, 1) for k, v in med.items()},
            **{f"{k}_min_us": round(v * 1e6, 1) for k, v in best.items()},
            "open_after_over_before": paired(times, "open"),
            "sample_after_over_before": paired(times, "sample"),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
