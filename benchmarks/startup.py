"""CLI start-up: median wall time of `zelda --help` and `zelda plugins` vs `python -c pass`.

usage: python benchmarks/startup.py [N]
"""
import subprocess, sys, time, shutil, statistics
def t(cmd, n=int(sys.argv[1]) if len(sys.argv) > 1 else 20):
    xs=[]
    for _ in range(n):
        t0=time.perf_counter(); subprocess.run(cmd, stdout=subprocess.DEVNULL); xs.append(time.perf_counter()-t0)
    return statistics.median(xs)
py=sys.executable; z=shutil.which("zelda")
base=t([py,"-c","pass"]); help_=t([z,"--help"]); plug=t([z,"plugins"])
print(f"python -c pass {base:.3f}s | zelda --help {help_:.3f}s ({help_/base:.2f}x) | zelda plugins {plug:.3f}s ({plug/base:.2f}x)")
