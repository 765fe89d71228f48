"""``zelda report WORK_DIR [--checkpoint CKPT]``: (re)build a run's report.html."""

from __future__ import annotations

import argparse

from .._install import install_hint


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report", help="the run report (one self-contained HTML file) of a work dir",
        description="Write WORK_DIR/report.html (zelda run writes it at the end): the resolved "
                    "recipe and environment, loss/lr/metric curves, per-class accuracy (or AP) "
                    "with support, the confusion matrix (clustered above 30 classes), the most "
                    "confused pairs, the worst misclassified val videos as the frames the model "
                    "saw, and the videos the run skipped. The val split is evaluated with the "
                    "checkpoint (default: the run's best, else last). No network: images are "
                    f"inline. Needs matplotlib: {install_hint('plot')}.")
    p.add_argument("work_dir", metavar="WORK_DIR", help="a run's folder (zelda run --work-dir)")
    p.add_argument("--checkpoint", "-c", metavar="CKPT",
                   help="checkpoint to evaluate on the val split (default: checkpoints/best.pth, else last.pth)")
    p.add_argument("--out", "-o", metavar="FILE", help="where to write it (default: WORK_DIR/report.html)")
    p.add_argument("--strips", type=int, default=8, metavar="N",
                   help="misclassified val videos shown as frame strips (default: 8)")
    p.add_argument("--device", help="override train.device for the evaluation (auto, cpu, cuda:N)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._deploy.report import build_report
    from .._errors import ZeldaError

    if args.strips < 0:
        raise ZeldaError(f"--strips {args.strips}: expected 0 or more videos")
    path = build_report(args.work_dir, checkpoint=args.checkpoint, out=args.out, strips=args.strips,
                        device=args.device)
    print(f"wrote {path}")
    return 0
