"""Side-by-side CPU cost of the data pipeline: MMAction2's seed vs `zelda bench pipeline`.

usage (from the repository root):
    python benchmarks/pipeline/compare.py [--mmaction-python /tmp/venv-mmaction/bin/python]
        [--rounds 3] [--decoders pyav,decord] [--rows 0,4]
        [--other old=/work/wt/old17712/.venv/bin/zelda]

Each round runs the baseline (../shared/bench/mmaction_seed.py pipeline) and then zelda on
the same videos, alternating, so both see the same machine load; the table gives median
CPU seconds per video (getrusage, all threads) and their ratio. Markdown on stdout.

The high-resolution row needs ``python benchmarks/pipeline/make_highres.py`` once (the
720p-1080p originals it links and re-encodes). ``--other LABEL=ZELDA`` adds a column for
another checkout's ``zelda`` executable (its own venv's console script, e.g. the code
before a change), run in the same rounds on the same recipes, pyav only, with its ratio
to this tree's pyav cost.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

SHARED = "../shared"
HIGHRES = "benchmarks/pipeline/.highres"
ROWS = [
    # (row, data folder, baseline label, zelda recipe, zelda split)
    ("tutorial train (1x16, resize 256, crop 224)", f"{SHARED}/data/kinetics2_tiny",
     "seed-train-1x16", "benchmarks/pipeline/kinetics2_tiny.toml", "tutorial_train"),
    ("tutorial val (5x16, one decode)", f"{SHARED}/data/kinetics2_tiny", "seed-val-5x16",
     "benchmarks/pipeline/kinetics2_tiny.toml", "tutorial_val"),
    ("tutorial train on videos/real (240p-1080p)", f"{SHARED}/data/videos/real",
     "seed-train-1x16", "benchmarks/pipeline/real_videos.toml", "tutorial_train"),
    ("MMAction2 dense (SampleFrames 16x4x1, resize, crop)", f"{SHARED}/data/kinetics2_tiny",
     "mmaction-builtin-1x16x4", "benchmarks/pipeline/kinetics2_tiny.toml", "dense"),
    ("tutorial train on 720p-1080p originals", HIGHRES, "seed-train-1x16",
     "benchmarks/pipeline/highres.toml", "tutorial_train"),
]


def seed_results(stdout: str) -> dict[str, float]:
    """CPU seconds per video of each pipeline in mmaction_seed.py's JSON lines, by name."""
    res = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            res[d["what"].split(":", 1)[1]] = d["cpu_s_per_video"]
    return res


def baseline(python: str, data: str) -> dict[str, float]:
    out = subprocess.run([python, f"{SHARED}/bench/mmaction_seed.py", "pipeline", data],
                         capture_output=True, text=True, check=True)
    return seed_results(out.stdout)


def zelda(recipe: str, split: str, decoder: str, exe: list[str] | None = None) -> dict:
    cmd = exe or [sys.executable, "-m", "zelda_core"]
    out = subprocess.run([*cmd, "bench", "pipeline", recipe, "--split", split,
                          "--set", f"data.decoder={decoder}", "--json"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mmaction-python", default="/tmp/venv-mmaction/bin/python")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--decoders", default="pyav,decord")
    ap.add_argument("--rows", default=",".join(str(i) for i in range(len(ROWS))),
                    help="row numbers to run (0-based, comma-separated)")
    ap.add_argument("--other", action="append", default=[], metavar="LABEL=ZELDA")
    a = ap.parse_args()
    decoders = a.decoders.split(",")
    rows = [int(i) for i in a.rows.split(",")]
    others = [o.split("=", 1) for o in a.other]
    if rows and ROWS[rows[-1]][1] == HIGHRES and not os.path.isdir(HIGHRES):
        sys.exit(f"{HIGHRES} not found: run python benchmarks/pipeline/make_highres.py first")
    base: dict[tuple[str, str], list[float]] = {}
    ours: dict[tuple[int, str], list[float]] = {}
    shares: dict[tuple[int, str], dict] = {}
    for r in range(a.rounds):
        for data in sorted({ROWS[i][1] for i in rows}):
            for label, cpu in baseline(a.mmaction_python, data).items():
                base.setdefault((data, label), []).append(cpu)
            for i in rows:
                _, d, _, recipe, split = ROWS[i]
                if d != data:
                    continue
                for dec in decoders:
                    z = zelda(recipe, split, dec)
                    ours.setdefault((i, dec), []).append(z["cpu_s_per_video"])
                    shares[(i, dec)] = z["transforms"]
                for label, exe in others:
                    z = zelda(recipe, split, "pyav", [exe])
                    ours.setdefault((i, label), []).append(z["cpu_s_per_video"])
        print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
    head = "| pipeline | MMAction2 CPU-s/video | " + " | ".join(
        f"zelda {d} CPU-s/video | ratio" for d in decoders)
    head += "".join(f" | {label} pyav CPU-s/video | ratio | zelda pyav / {label}"
                    for label, _ in others)
    print(head + " |")
    print("|" + "---|" * (2 + 2 * len(decoders) + 3 * len(others)))
    for i in rows:
        name, data, label = ROWS[i][:3]
        b = statistics.median(base[(data, label)])
        cells = []
        for dec in decoders:
            z = statistics.median(ours[(i, dec)])
            cells += [f"{z:.3f}", f"**{z / b:.2f}x**"]
        for lab, _ in others:
            o = statistics.median(ours[(i, lab)])
            cells += [f"{o:.3f}", f"{o / b:.2f}x"]
            if "pyav" in decoders:
                cells.append(f"**{statistics.median(ours[(i, 'pyav')]) / o:.2f}x**")
            else:
                cells.append("-")
        print(f"| {name} | {b:.3f} | " + " | ".join(cells) + " |")
    print()
    for i in rows:
        for dec in decoders:
            s = ", ".join(f"{k} {100 * v:.1f}%" for k, v in shares[(i, dec)].items())
            print(f"- {ROWS[i][0]}, {dec}: {s}")
    print("\nper round (CPU-s/video):")
    for i in rows:
        runs = {"MMAction2": base[(ROWS[i][1], ROWS[i][2])]}
        runs.update({k: v for (j, k), v in ours.items() if j == i})
        print(f"- {ROWS[i][0]}: " + "; ".join(
            f"{k} " + ", ".join(f"{x:.3f}" for x in v) for k, v in runs.items()))


if __name__ == "__main__":
    main()
