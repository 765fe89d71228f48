"""A shard set served by a local S3 endpoint (moto) against the same set on local disk.

    python benchmarks/shards_s3.py SHARD_SET parity --epochs 2 --workers 0 2
    python benchmarks/shards_s3.py SHARD_SET bench --rounds 3 --batches 20

``SHARD_SET``: a ``zelda data prepare --format shards`` folder (e.g. of kinetics2_tiny).
``parity`` trains recipes/kinetics_tiny_shards.toml from the folder and from S3 with each
worker count and prints the per-epoch val metrics side by side (they must be equal).
``bench`` runs ``zelda bench train`` (loader supply, 2 workers) from the folder and from
S3 in alternating rounds, each with a cold cache, and prints the supply ratio. Needs the
shards extra, moto[server] and boto3.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "kinetics_tiny_shards.toml"
sys.path.insert(0, str(REPO / "tests" / "helpers"))

from object_store import s3_env, s3_server, upload  # noqa: E402


def zelda(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zelda_core", *args], capture_output=True,
                          text=True, env={**os.environ, **env})


def cache_sets(cache: Path) -> list[str]:
    return [f'data.{s}.cache_dir="{cache}"' for s in ("train", "val")]


def parity(shards: Path, url: str, env: dict[str, str], epochs: int, workers: list[int], tmp: Path) -> int:
    bad = 0
    for w in workers:
        rows = {}
        for name, root in (("disk", str(shards)), ("s3", url)):
            work = tmp / f"{name}-w{w}"
            sets = [f'data.root="{root}"', f"data.workers={w}", f"train.epochs={epochs}",
                    f'work_dir="{work}"', *cache_sets(tmp / f"cache-{name}-w{w}")]
            t0 = time.perf_counter()
            res = zelda("run", str(RECIPE), *[x for s in sets for x in ("--set", s)], env=env)
            if res.returncode:
                print(res.stderr, file=sys.stderr)
                return 1
            recs = [json.loads(x) for x in (work / "metrics.jsonl").read_text().splitlines()]
            rows[name] = [(r["epoch"], {k: v for k, v in r.items() if k not in ("type", "epoch", "time", "seconds")})
                          for r in recs if r["type"] == "val"]
            print(f"workers={w} {name}: {time.perf_counter() - t0:.0f} s, per-epoch val: {rows[name]}")
        same = rows["disk"] == rows["s3"]
        bad += not same
        print(f"workers={w}: per-epoch val metrics {'EQUAL' if same else 'DIFFER'}")
    return int(bad > 0)


def bench(shards: Path, url: str, env: dict[str, str], rounds: int, batches: int, tmp: Path) -> int:
    supply: dict[str, list[float]] = {"disk": [], "s3": []}
    for r in range(rounds):
        for name, root in (("disk", str(shards)), ("s3", url)):
            cache = tmp / f"bench-cache-{name}-{r}"  # cold: every shard is fetched in the run
            sets = [f'data.root="{root}"', "data.workers=2", *cache_sets(cache)]
            res = zelda("bench", "train", str(RECIPE), "--json", "--batches", str(batches),
                        *[x for s in sets for x in ("--set", s)], env=env)
            if res.returncode:
                print(res.stderr, file=sys.stderr)
                return 1
            out = json.loads(res.stdout)
            supply[name].append(out["loader_supply_clips_s"])
            print(f"round {r} {name}: loader {out['loader_supply_clips_s']:.2f} clips/s, start-up "
                  f"{out['loader_startup_s']:.2f} s, end to end {out['end_to_end_clips_s']:.2f} "
                  f"clips/s (load {os.getloadavg()[0]:.1f})", flush=True)
            shutil.rmtree(cache, ignore_errors=True)
    d, s = (sum(v) / len(v) for v in (supply["disk"], supply["s3"]))
    print(f"mean loader supply: disk {d:.2f} clips/s, s3 {s:.2f} clips/s, s3/disk {s / d:.3f}")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("shards", type=Path)
    p.add_argument("what", choices=["parity", "bench"])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batches", type=int, default=20)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp, s3_server() as endpoint:
        url = upload(endpoint, a.shards.resolve(), "k2")
        env = s3_env(endpoint)
        if a.what == "parity":
            return parity(a.shards.resolve(), url, env, a.epochs, a.workers, Path(tmp))
        return bench(a.shards.resolve(), url, env, a.rounds, a.batches, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
