"""``zelda run RECIPE``: train, validate, then test the best checkpoint on the test split."""

from __future__ import annotations

import argparse

from .common import add_set_argument
from .launch import add_nproc_argument
from .slurm import add_slurm_arguments, slurm_flags


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
    p.add_argument("--force-init", action="store_true",
                   help="accept --init-from weights that match none of the model's tensors")
    p.add_argument("--force-lock", action="store_true",
                   help="use the work dir even if its lock says another run (on another host) "
                        "holds it")
    p.add_argument("--no-download", action="store_true",
                   help="never download a missing data set")
    add_nproc_argument(p)
    p.add_argument("--no-plots", action="store_true",
                   help="do not draw WORK_DIR/plots at the end (drawn when matplotlib is installed)")
    add_slurm_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._errors import ZeldaError
    from .._recipe import load_recipe
    from .._schema import validate_recipe

    if args.resume and args.init_from:
        raise ZeldaError("--resume and --init-from exclude each other: --resume continues a run "
                         "(weights, optimizer, epoch); --init-from starts a new one from weights")
    recipe = load_recipe(args.recipe, args.overrides)
    validate_recipe(recipe)
    if args.slurm:
        from .slurm import submit_run

        return submit_run(args, recipe)
    given = [f"--{k.replace('_', '-')}" for k, v in slurm_flags(args).items() if v is not None]
    if given:
        raise ZeldaError(f"{', '.join(given)} only apply with --slurm (the job's resources); add "
                         "--slurm to submit the run to SLURM")
    if args.nproc:
        from .launch import launch

        return launch(args.nproc, args.argv)
    from .._engine.distributed import teardown
    from .._engine.train import run_training

    finished = False
    try:
        run_training(recipe, work_dir=args.work_dir, resume=args.resume, init_from=args.init_from,
                     download=not args.no_download, force_lock=args.force_lock,
                     force_init=args.force_init, plots=False if args.no_plots else None)
        finished = True
    finally:
        teardown(finished)
    return 0
