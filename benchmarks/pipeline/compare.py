"""Side-by-side CPU cost of the data pipeline: MMAction2's seed vs `zelda bench pipeline`.

usage (from the repository root):
    python benchmarks/pipeline/compare.py [--mmaction-python /tmp/venv-mmaction/bin/python]
        [--rounds 3] [--decoders pyav,decord]

Each round runs the baseline (../shared/bench/mmaction_seed.py pipeline) and then zelda on
the same videos, alternating, so both see the same machine load; the table gives median
CPU seconds per video (getrusage, all threads) and their ratio. Markdown on stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

SHARED = "../shared"
ROWS = [
    # (row, data, baseline label, zelda recipe, zelda split)
    ("tutorial train (1x16, resize 256, crop 224)", "kinetics2_tiny", "seed-train-1x16",
     "benchmarks/pipeline/kinetics2_tiny.toml", "tutorial_train"),
    ("tutorial val (5x16, one decode)", "kinetics2_tiny", "seed-val-5x16",
     "benchmarks/pipeline/kinetics2_tiny.toml", "tutorial_val"),
    ("tutorial train on 720p-1080p originals", "videos/real", "seed-train-1x16",
     "benchmarks/pipeline/real_videos.toml", "tutorial_train"),
    ("MMAction2 dense (SampleFrames 16x4x1, resize, crop)", "kinetics2_tiny",
     "mmaction-builtin-1x16x4", "benchmarks/pipeline/kinetics2_tiny.toml", "dense"),
]


def baseline(python: str, data: str) -> dict[str, float]:
    out = subprocess.run([python, f"{SHARED}/bench/mmaction_seed.py", "pipeline",
                          f"{SHARED}/data/{data}"], capture_output=True, text=True, check=True)
    res = {}
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            res[d["what"].split(":", 1)[1]] = d["cpu_s_per_video"]
    return res


def zelda(recipe: str, split: str, decoder: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "zelda_core", "bench", "pipeline", recipe,
                          "--split", split, "--set", f"data.decoder={decoder}", "--json"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mmaction-python", default="/tmp/venv-mmaction/bin/python")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--decoders", default="pyav,decord")
    a = ap.parse_args()
    decoders = a.decoders.split(",")
    base: dict[tuple[str, str], list[float]] = {}
    ours: dict[tuple[int, str], list[float]] = {}
    shares: dict[tuple[int, str], dict] = {}
    for r in range(a.rounds):
        for data in sorted({row[1] for row in ROWS}):
            for label, cpu in baseline(a.mmaction_python, data).items():
                base.setdefault((data, label), []).append(cpu)
            for i, (_, d, _, recipe, split) in enumerate(ROWS):
                if d != data:
                    continue
                for dec in decoders:
                    z = zelda(recipe, split, dec)
                    ours.setdefault((i, dec), []).append(z["cpu_s_per_video"])
                    shares[(i, dec)] = z["transforms"]
        print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
    head = "| pipeline | data | MMAction2 CPU-s/video | " + " | ".join(
        f"zelda {d} CPU-s/video | ratio" for d in decoders) + " |"
    print(head)
    print("|" + "---|" * (3 + 2 * len(decoders)))
    for i, (name, data, label, _, _) in enumerate(ROWS):
        b = statistics.median(base[(data, label)])
        cells = []
        for dec in decoders:
            z = statistics.median(ours[(i, dec)])
            cells += [f"{z:.3f}", f"**{z / b:.2f}x**"]
        print(f"| {name} | {data} | {b:.3f} | " + " | ".join(cells) + " |")
    print()
    for i, (name, *_rest) in enumerate(ROWS):
        for dec in decoders:
            s = ", ".join(f"{k} {100 * v:.1f}%" for k, v in shares[(i, dec)].items())
            print(f"- {name}, {dec}: {s}")


if __name__ == "__main__":
    main()
