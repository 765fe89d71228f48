"""Per-file CPU cost of the tutorial train pipeline: MMAction2's seed vs `zelda bench pipeline`.

usage (from the repository root):
    python benchmarks/pipeline/per_file.py [FOLDER] [--rounds 3]
        [--mmaction-python /tmp/venv-mmaction/bin/python] [--other old=../old17712/.venv/bin/zelda]

FOLDER (default benchmarks/pipeline/.highres, made by make_highres.py) is a plain folder of
videos. compare.py gives one figure per folder; this gives one per file, to see which files
a folder's ratio comes from. Each file gets a folder of its own (a link to it); per round,
MMAction2's seed train pipeline (one process, each file timed alone), then this tree's
``zelda bench pipeline benchmarks/pipeline/highres.toml --split tutorial_train --set
data.root=...`` per file, then each ``--other`` zelda the same way. Reports the median CPU
seconds (getrusage, all threads) per file and the ratios, Markdown on stdout.

``--floor`` adds, per file, the *decode floor*: this process decodes with PyAV exactly the
packets zelda's pyav reader decodes for a tutorial clip (from each needed keyframe to the
last sampled frame of its GOP, non-reference frames nobody asked for skipped, one
thread) without converting a frame, alternating with the reader itself (``get_frames``
at short side 256) on the same sampled frames; the floor's share of the reader's CPU
time is the part no exact reader can cut, and ``floor x zelda / MMAction2`` the lowest
ratio to MMAction2 an exact reader could reach on that file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from compare import seed_results  # the sibling script (sys.path[0] is this folder)

SHARED = "../shared"
RECIPE = "benchmarks/pipeline/highres.toml"
VIDEO = (".mp4", ".avi", ".mkv", ".webm", ".mov")
# MMAction2's seed train pipeline on one-file folders, each timed alone (mmaction_seed.py)
SEED = """
import json, sys
sys.argv = ["mmaction_seed.py"]
sys.path.insert(0, {bench!r})
import numpy as np, torch
import mmaction_seed as m
torch.manual_seed(0); np.random.seed(0)
train, _ = m.pipelines()
for d in {dirs!r}:
    name = sorted(__import__("os").listdir(d))[0]
    m.bench_pipeline(d, [name], train, name)
"""


def baseline(python: str, dirs: list[str]) -> dict[str, float]:
    code = SEED.format(bench=os.path.abspath(f"{SHARED}/bench"), dirs=dirs)
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return seed_results(out.stdout)


def zelda(exe: list[str], folder: str) -> float:
    out = subprocess.run([*exe, "bench", "pipeline", RECIPE, "--split", "tutorial_train",
                          "--set", "data.decoder='pyav'", "--set", f"data.root='{folder}'",
                          "--json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["cpu_s_per_video"]


def decode_floor(path: str, reps: int = 4) -> float:
    """CPU share of the pyav reader's ``get_frames(size=256)`` that is decoding the packets
    it has to decode (see the module docstring), over ``reps`` tutorial-like clips."""
    import resource

    import av
    import numpy as np

    from zelda_core.api import open_video

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    def floor(idx, want) -> None:  # noqa: ANN001
        need: dict[int, int] = {}
        wanted = {idx.decode_pos(int(i)) for i in want}
        for p in wanted:
            k = idx.start_key(p)
            need[k] = max(need.get(k, -1), p)
        with av.open(path) as c:
            s = c.streams.video[0]
            cc = s.codec_context
            cc.thread_count = 1
            for k, last in sorted(need.items()):
                c.seek(idx.seek_timestamp(k), stream=s, backward=True)
                cc.flush_buffers()
                for pkt in c.demux(s):
                    pos = idx.pos_of_pts(pkt.pts if pkt.pts is not None else pkt.dts)
                    if not pkt.size or pos is None or pos < k:
                        continue
                    cc.skip_frame = "DEFAULT" if pos in wanted else "NONREF"
                    cc.decode(pkt)
                    if pos >= last:
                        break
                cc.decode(None)

    with open_video(path, "pyav") as r:
        idx = r.index
        r.get_frames([0], size=256)  # imports, first-use setup
    if not idx.by_pts:
        return float("nan")
    rng = np.random.default_rng(0)
    seg = idx.num_frames // 16
    spent = {"reader": 0.0, "floor": 0.0}
    for _ in range(reps):
        want = np.arange(16) * seg + rng.integers(0, seg, 16)
        c0 = cpu()
        with open_video(path, "pyav") as r:
            r.get_frames(want, size=256)
        c1 = cpu()
        floor(idx, want)
        spent["reader"] += c1 - c0
        spent["floor"] += cpu() - c1
    return spent["floor"] / spent["reader"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", nargs="?", default="benchmarks/pipeline/.highres")
    ap.add_argument("--mmaction-python", default="/tmp/venv-mmaction/bin/python")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--other", action="append", default=[], metavar="LABEL=ZELDA")
    ap.add_argument("--floor", action="store_true", help="add the decode floor's share")
    a = ap.parse_args()
    names = sorted(n for n in os.listdir(a.folder) if n.lower().endswith(VIDEO))
    if not names:
        sys.exit(f"no videos in {a.folder}")
    runs = {"zelda": [sys.executable, "-m", "zelda_core"]}
    runs.update({label: [exe] for label, exe in (o.split("=", 1) for o in a.other)})
    cost: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        dirs = []
        for n in names:
            d = Path(tmp, Path(n).stem)
            d.mkdir()
            (d / n).symlink_to(Path(a.folder, n).resolve())
            dirs.append(str(d))
        for r in range(a.rounds):
            for n, c in baseline(a.mmaction_python, dirs).items():
                cost.setdefault(("MMAction2", n), []).append(c)
            for label, exe in runs.items():
                for n, d in zip(names, dirs):
                    cost.setdefault((label, n), []).append(zelda(exe, d))
            if a.floor:
                for n in names:
                    cost.setdefault(("floor", n), []).append(decode_floor(str(Path(a.folder, n))))
            print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
    labels = list(runs)
    head = "| file | MMAction2 CPU-s | " + " | ".join(f"{lab} CPU-s | ratio" for lab in labels)
    head += "".join(f" | zelda / {lab}" for lab in labels[1:])
    if a.floor:
        head += " | decode floor share of zelda | floor / MMAction2"
    print(head + " |")
    print("|" + "---|" * (2 + 2 * len(labels) + len(labels) - 1 + 2 * a.floor))
    for n in names:
        b = statistics.median(cost[("MMAction2", n)])
        med = {lab: statistics.median(cost[(lab, n)]) for lab in labels}
        cells = [f"{med[lab]:.3f} | **{med[lab] / b:.2f}x**" for lab in labels]
        cells += [f"{med['zelda'] / med[lab]:.2f}x" for lab in labels[1:]]
        if a.floor:
            share = statistics.median(cost[("floor", n)])
            cells += [f"{share:.0%}", f"{share * med['zelda'] / b:.2f}x"]
        print(f"| {n} | {b:.3f} | " + " | ".join(cells) + " |")
    b = statistics.mean(statistics.median(cost[("MMAction2", n)]) for n in names)
    med = {lab: statistics.mean(statistics.median(cost[(lab, n)]) for n in names) for lab in labels}
    cells = [f"{med[lab]:.3f} | **{med[lab] / b:.2f}x**" for lab in labels]
    cells += [f"{med['zelda'] / med[lab]:.2f}x" for lab in labels[1:]]
    if a.floor:
        low = statistics.mean(statistics.median(cost[("floor", n)])
                              * statistics.median(cost[("zelda", n)]) for n in names)
        cells += [f"{low / med['zelda']:.0%}", f"{low / b:.2f}x"]
    print(f"| mean per video | {b:.3f} | " + " | ".join(cells) + " |")
    print("\nper round (CPU-s):")
    for n in names:
        print(f"- {n}: " + "; ".join(
            f"{lab} " + ", ".join(f"{x:.3f}" for x in cost[(lab, n)])
            for lab in ["MMAction2", *labels]) + (
            "; floor share " + ", ".join(f"{x:.2f}" for x in cost[("floor", n)])
            if a.floor else ""))


if __name__ == "__main__":
    main()
