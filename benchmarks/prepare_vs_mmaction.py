"""Side by side: the tutorial train pipeline on `zelda data prepare` copies vs MMAction2.

usage (from the repository root, after preparing the copies):
    zelda data prepare benchmarks/pipeline/kinetics2_tiny.toml --splits tutorial_train \\
        --out PREP_K2
    zelda data prepare benchmarks/pipeline/real_videos.toml --set data.root=DIR_1080 \\
        --out PREP_1080          # DIR_1080: the two 1080p files of ../shared/data/videos/real
    python benchmarks/prepare_vs_mmaction.py --mmaction-python VENV/bin/python \\
        --prepared-k2 PREP_K2 --originals-1080 DIR_1080 --prepared-1080 PREP_1080 \\
        --rawframes RAWFRAMES_DIR [--rounds 3]

Each round runs, one after the other so all see the same load: MMAction2's RawFrameDecode
pipeline on JPEG frames of kinetics2_tiny/train (../shared/bench/mm_rawframes.py, best of
its 3 passes), MMAction2's tutorial video pipeline on the originals (mmaction_seed.py, its
train pipeline only), and `zelda bench pipeline` (tutorial_train) on the prepared copies;
then the same for the two 1080p files. CPU seconds per video (getrusage), medians over the
rounds, and ratios. Markdown on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

SHARED = "../shared"


def mm_seed_train(python: str, root: str) -> float:
    """CPU-s per video of the tutorial's train pipeline (the script's first line)."""
    p = subprocess.Popen([python, f"{SHARED}/bench/mmaction_seed.py", "pipeline", root],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in p.stdout:  # type: ignore[union-attr]
            if line.startswith("{") and "seed-train-1x16" in line:
                return json.loads(line)["cpu_s_per_video"]
    finally:
        p.kill()
        p.wait()
    raise RuntimeError(f"mmaction_seed.py printed no train line for {root}")


def mm_rawframes(python: str, frames: str) -> dict:
    out = subprocess.run([python, f"{SHARED}/bench/mm_rawframes.py",
                          f"{SHARED}/data/kinetics2_tiny/train", frames],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def zelda_pipeline(recipe: str, root: str) -> float:
    out = subprocess.run([sys.executable, "-m", "zelda_core", "bench", "pipeline", recipe,
                          "--split", "tutorial_train", "--set", f"data.root={root}", "--json"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["cpu_s_per_video"]


def prepared_bytes(prep: str, prefix: str = "") -> float:
    m = json.load(open(os.path.join(prep, "prepare.json")))
    sizes = [v["out_size"] for k, v in m["videos"].items() if k.startswith(prefix)]
    return sum(sizes) / len(sizes)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mmaction-python", required=True)
    ap.add_argument("--prepared-k2", required=True)
    ap.add_argument("--originals-1080", required=True)
    ap.add_argument("--prepared-1080", required=True)
    ap.add_argument("--rawframes", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    k2_recipe = "benchmarks/pipeline/kinetics2_tiny.toml"
    real_recipe = "benchmarks/pipeline/real_videos.toml"
    cols: dict[str, list[float]] = {}
    raw: dict = {}
    loads = []
    for r in range(a.rounds):
        loads.append(os.getloadavg()[0])
        raw = mm_rawframes(a.mmaction_python, a.rawframes)
        row = {
            "rawframes": raw["cpu_s_per_video"],
            "mm_video_k2": mm_seed_train(a.mmaction_python, f"{SHARED}/data/kinetics2_tiny"),
            "zelda_prep_k2": zelda_pipeline(k2_recipe, os.path.abspath(a.prepared_k2)),
            "mm_video_1080": mm_seed_train(a.mmaction_python, a.originals_1080),
            "zelda_prep_1080": zelda_pipeline(real_recipe, os.path.abspath(a.prepared_1080)),
        }
        print(f"round {r + 1}: {json.dumps(row)}", file=sys.stderr, flush=True)
        for k, v in row.items():
            cols.setdefault(k, []).append(v)
    med = {k: statistics.median(v) for k, v in cols.items()}
    disk = prepared_bytes(a.prepared_k2, "train/")
    print(f"{a.rounds} rounds, load average {min(loads):.1f}-{max(loads):.1f} on "
          f"{os.cpu_count()} cores; CPU-s per video, median of rounds\n")
    print("| what | CPU-s per video | zelda on the prepared copy | ratio |")
    print("|---|---|---|---|")
    print(f"| MMAction2 RawFrameDecode on JPEG frames (kinetics2_tiny/train) | "
          f"{med['rawframes']:.4f} | {med['zelda_prep_k2']:.4f} | "
          f"{med['zelda_prep_k2'] / med['rawframes']:.2f}x |")
    print(f"| MMAction2 tutorial video pipeline on the originals (kinetics2_tiny/train) | "
          f"{med['mm_video_k2']:.4f} | {med['zelda_prep_k2']:.4f} | "
          f"{med['zelda_prep_k2'] / med['mm_video_k2']:.3f}x |")
    print(f"| MMAction2 tutorial video pipeline on the two 1080p originals | "
          f"{med['mm_video_1080']:.4f} | {med['zelda_prep_1080']:.4f} | "
          f"{med['zelda_prep_1080'] / med['mm_video_1080']:.3f}x |")
    print(f"\ndisk per video: rawframes {raw['rawframe_bytes_per_video'] / 1e6:.2f} MB, prepared "
          f"copy {disk / 1e6:.2f} MB ({disk / raw['rawframe_bytes_per_video']:.2f}x), source "
          f"{raw['source_bytes_per_video'] / 1e6:.2f} MB")
    print("\nper round:", json.dumps(cols))


if __name__ == "__main__":
    main()
