"""``zelda plot WORK_DIR [WORK_DIR ...] --out DIR``: pictures of runs."""

from __future__ import annotations

import argparse

from .._install import install_hint


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plot", help="PNG/SVG of training curves and confusion matrices of runs",
        description="Write PNG and SVG pictures of one or more work dirs: train loss (raw and "
                    "smoothed) and learning rate per step, validation metrics per epoch (runs "
                    "overlaid with a legend), and per run the confusion matrix (counts and "
                    "row-normalised) and per-class accuracy from the saved confusion CSVs. "
                    f"Needs matplotlib: {install_hint('plot')}.")
    p.add_argument("work_dirs", nargs="+", metavar="WORK_DIR", help="run folders (zelda run --work-dir)")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="folder for the pictures")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._deploy.plot import plot_runs

    files = plot_runs(args.work_dirs, args.out)
    for f in files:
        print(f"wrote {f}")
    if not files:
        print("nothing to plot: the work dirs have no train or val records yet")
    return 0
