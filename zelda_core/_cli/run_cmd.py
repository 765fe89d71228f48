"""``zelda run RECIPE``: train, validate, then test the best checkpoint on the test split."""

from __future__ import annotations

import argparse

from .common import add_set_argument


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run", help="train a recipe (validates each epoch, tests the best checkpoint)",
        description="Train the recipe's model, validate every train.val_interval epochs, keep the "
                    "best and last checkpoints in WORK_DIR/checkpoints, then evaluate the best "
                    "one on [data.test] when the recipe has it.")
    p.add_argument("recipe", help="path to a .toml recipe")
    add_set_argument(p)
    p.add_argument("--work-dir", help="output folder (default: the recipe's work_dir, else "
                                      "work_dirs/<recipe name>)")
    p.add_argument("--resume", nargs="?", const=True, default=None, metavar="CKPT",
                   help="continue a run: from CKPT, or from WORK_DIR/checkpoints/last.pth")
    p.add_argument("--init-from", metavar="CKPT",
                   help="start from these weights only (missing/unexpected keys are reported)")
    p.add_argument("--no-download", action="store_true",
                   help="never download a missing data set")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._engine.train import run_training
    from .._errors import ZeldaError
    from .._recipe import load_recipe
    from .._schema import validate_recipe

    if args.resume and args.init_from:
        raise ZeldaError("--resume and --init-from exclude each other: --resume continues a run "
                         "(weights, optimizer, epoch); --init-from starts a new one from weights")
    recipe = load_recipe(args.recipe, args.overrides)
    validate_recipe(recipe)
    run_training(recipe, work_dir=args.work_dir, resume=args.resume, init_from=args.init_from,
                 download=not args.no_download)
    return 0
