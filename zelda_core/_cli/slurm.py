"""``zelda run --slurm``: the flags, and the command line the job runs.

The job is the same ``zelda run`` line without the SLURM flags, with the work dir made
absolute; each task runs it in the directory it was submitted from
(``zelda_core._slurm``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

VALUE_FLAGS = ("--nodes", "--gpus-per-node", "--partition", "--time", "--account")


def add_slurm_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "SLURM", "submit the run as a SLURM job instead (through submitit); the flags override "
                 "the recipe's [launch] table (docs/distributed.md)")
    group.add_argument("--slurm", action="store_true",
                       help="submit to SLURM: one process per GPU on each node; on preemption or "
                            "time limit the job checkpoints, requeues and resumes by itself")
    group.add_argument("--nodes", type=int, metavar="N", help="nodes (launch.nodes; default 1)")
    group.add_argument("--gpus-per-node", type=int, metavar="G",
                       help="GPUs per node, one process each (launch.gpus_per_node; default 0: CPU)")
    group.add_argument("--partition", metavar="NAME", help="SLURM partition (launch.partition)")
    group.add_argument("--time", metavar="TIME",
                       help="time limit: minutes or [D-]HH:MM:SS (launch.time; default 60)")
    group.add_argument("--account", metavar="NAME", help="account to charge (launch.account)")


def slurm_flags(args: argparse.Namespace) -> dict[str, Any]:
    return {"nodes": args.nodes, "gpus_per_node": args.gpus_per_node, "partition": args.partition,
            "time": args.time, "account": args.account}


def job_argv(argv: Sequence[str], work_dir: Path) -> list[str]:
    """``argv`` without the SLURM flags, ``--work-dir`` absolute at its end."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a == "--slurm":
            continue
        elif a in (*VALUE_FLAGS, "--work-dir"):
            skip = True
        elif not a.startswith(tuple(f"{f}=" for f in (*VALUE_FLAGS, "--work-dir"))):
            out.append(a)
    return [*out, "--work-dir", str(work_dir)]


def submit_run(args: argparse.Namespace, recipe: Any) -> int:
    """Submit the run; say where it runs and where its logs go."""
    from .._errors import ZeldaError
    from .._slurm.config import resolve_launch
    from .._slurm.submit import submit

    if args.nproc:
        raise ZeldaError("--slurm and --nproc exclude each other: under SLURM the processes per "
                         "node are launch.tasks_per_node (default: one per GPU)")
    launch = resolve_launch(recipe.data.get("launch"), slurm_flags(args), recipe.file)
    if args.work_dir:
        work_dir = Path(args.work_dir)
    else:
        from .._engine.assemble import default_work_dir

        work_dir = default_work_dir(recipe)
    work_dir = work_dir.absolute()
    name = Path(recipe.path).stem if getattr(recipe, "path", None) else "zelda"
    job = submit(job_argv(args.argv, work_dir), launch, work_dir, f"zelda-{name}")
    gpus = f" x {launch.gpus_per_node} GPUs" if launch.gpus_per_node else ""
    where = ", ".join(f"{k} {v}" for k, v in (("partition", launch.partition), ("account", launch.account)) if v)
    print(f"submitted SLURM job {job.job_id}: {launch.nodes} node(s){gpus}, "
          f"{launch.processes_per_node} process(es) per node, time {launch.time}"
          + (f", {where}" if where else ""))
    print(f"work dir: {work_dir}")
    print(f"log: {job.paths.stdout}".replace("%j", str(job.job_id)).replace("%t", "0"))
    return 0
