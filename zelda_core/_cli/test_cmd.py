"""``zelda test RECIPE --checkpoint CKPT``: metrics of a checkpoint on a split."""

from __future__ import annotations

import argparse
import sys

from .common import add_set_argument
from .launch import add_nproc_argument


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "test", help="evaluate a checkpoint on the recipe's test (or another) split",
        description="Evaluate CKPT with the recipe's [data.<split>] pipeline (its clips and crops "
                    "are averaged per video as the model head says) and the recipe's metrics. "
                    "Prints the metrics and writes them as JSON.")
    p.add_argument("recipe", help="path to a .toml recipe")
    p.add_argument("--checkpoint", "-c", required=True, metavar="CKPT", help="checkpoint file (.pth)")
    p.add_argument("--split", default="test", help="split to evaluate (default: test)")
    p.add_argument("--out", metavar="FILE",
                   help="metrics JSON (default: <run dir>/<split>_metrics.json beside checkpoints/)")
    p.add_argument("--dump", metavar="FILE",
                   help="also write one JSON line per video: its path, true label(s), averaged "
                        "scores and views (as MMAction2's --dump; format in docs/training.md)")
    p.add_argument("--device", help="override train.device (auto, cpu, cuda:N)")
    add_set_argument(p)
    add_nproc_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._recipe import load_recipe
    from .._schema import validate_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    validate_recipe(recipe)
    if args.nproc:
        from .launch import launch

        return launch(args.nproc, args.argv)
    from .._engine.distributed import context, teardown
    from .._engine.evaluate import test_checkpoint
    from .._engine.log import show

    main = finished = False
    try:
        report = test_checkpoint(recipe, args.checkpoint, split=args.split, out=args.out, device=args.device,
                                 dump=args.dump)
        main = context().is_main
        finished = True
    finally:
        teardown(finished)
    if not main:  # rank 0 prints the report
        return 0
    from .._engine.log import log_test

    log_test(recipe.data, report, checkpoint=args.checkpoint, file=recipe.file)
    for line in report.get("warnings", []):
        print(f"zelda: warning: {line}", file=sys.stderr)
    m = report["metrics"]
    print(f"{args.split}: {int(m.get('samples', 0))} videos, checkpoint {args.checkpoint}")
    for k, v in m.items():
        if k != "samples":
            print(f"  {k:<24} {show(v)}")
    for f in report["files"]:
        print(f"  wrote {f}")
    if report["skipped"]:
        print(f"  {len(report['skipped'])} video(s) skipped as unreadable (listed in {report['out']})")
    if report.get("dump"):
        print(f"  per-video scores written to {report['dump']}")
    print(f"metrics written to {report['out']}")
    return 0
