"""Summarize benchmarks/training.sh output: wall/CPU seconds and val top-1 per run.

usage: python benchmarks/training_summary.py OUT_DIR [--tuned DIR ...]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path


def read_time(path: Path) -> tuple[float, float] | None:
    if not path.exists():
        return None
    m = re.search(r"WALL ([\d.]+) CPU ([\d.]+) ([\d.]+)", path.read_text())
    return (float(m.group(1)), float(m.group(2)) + float(m.group(3))) if m else None


def mm_top1(log: Path) -> tuple[float | None, float | None]:
    """(last epoch's val top-1, best epoch's val top-1) from an MMAction2 run log."""
    if not log.exists():
        return None, None
    vals = [float(v) for v in re.findall(r"Epoch\(val\) \[\d+\]\[\d+/\d+\]\s+acc/topk1: ([\d.]+)", log.read_text())]
    return (vals[-1], max(vals)) if vals else (None, None)


def zelda_top1(work: Path) -> tuple[float | None, float | None]:
    path = work / "metrics.jsonl"
    if not path.exists():
        return None, None
    vals = [json.loads(x)["top1"] for x in path.read_text().splitlines() if '"type": "val"' in x]
    return (vals[-1], max(vals)) if vals else (None, None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--prefix", default=["mm", "zelda"], nargs="+")
    a = ap.parse_args()
    out = Path(a.out)
    rows = {}
    for prefix in a.prefix:
        for t in sorted(out.glob(f"{prefix}_s*.time")):
            seed = t.stem.split("_s")[-1]
            timing = read_time(t)
            last, best = (mm_top1(out / f"{prefix}_s{seed}.log") if prefix == "mm"
                          else zelda_top1(out / f"{prefix}_s{seed}"))
            rows.setdefault(prefix, []).append((seed, timing, last, best))
    for prefix, items in rows.items():
        for seed, timing, last, best in items:
            wall, cpu = timing or (float("nan"), float("nan"))
            print(f"{prefix:<8} seed {seed}: wall {wall:7.1f} s  cpu {cpu:7.1f} s  "
                  f"val top1 last {last}  best {best}")
        walls = [t[1][0] for t in items if t[1]]
        lasts = [t[2] for t in items if t[2] is not None]
        if walls:
            print(f"{prefix:<8} mean wall {statistics.mean(walls):.1f} s"
                  + (f", val top1 last mean {statistics.mean(lasts):.3f}" if lasts else ""))


if __name__ == "__main__":
    main()
