"""CLI start-up: median wall time of `zelda --help` and `zelda plugins` vs `python -c pass`.

With --mmaction PYTHON (a venv from ../shared/bench/setup_mmaction.sh) it also times
MMAction2's registry start-up (`register_all_modules`) against zelda's plugin loading.

usage: python benchmarks/startup.py [-n 20] [--mmaction /path/to/venv/bin/python]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def median_wall(cmd: list[str], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--mmaction", help="python of an MMAction2 venv")
    a = ap.parse_args()
    zelda = shutil.which("zelda") or sys.exit("zelda is not installed")
    base = median_wall([sys.executable, "-c", "pass"], a.n)
    rows = [("python -c pass", base)]
    rows.append(("zelda --help", median_wall([zelda, "--help"], a.n)))
    rows.append(("zelda plugins", median_wall([zelda, "plugins"], a.n)))
    build = ("from zelda_core import build; "
             "build('models', {'type': 'conv3d_tiny'})")
    rows.append(("zelda: import + build conv3d backbone", median_wall([sys.executable, "-c", build], max(3, a.n // 4))))
    if a.mmaction:
        mm = ("import warnings; warnings.filterwarnings('ignore'); "
              "from mmaction.utils import register_all_modules; register_all_modules()")
        rows.append(("mmaction2: import + register_all_modules", median_wall([a.mmaction, "-c", mm], max(3, a.n // 4))))
    for name, t in rows:
        print(f"| {name} | {t:.3f} s | {t / base:.2f}x |")


if __name__ == "__main__":
    main()
