"""``--nproc N``: run the same command in N local processes with torch.distributed.run.

This is torchrun's own launcher called through its API (``--standalone``: a rendezvous on
a free local port), so the processes see exactly what ``torchrun --standalone
--nproc-per-node=N -m zelda_core ...`` gives them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def add_nproc_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nproc", type=int, metavar="N",
                        help="run in N processes on this machine (torch.distributed.run, standalone "
                             "rendezvous; N GPUs with CUDA, else N CPU processes); see docs/distributed.md")


def without_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` without its ``--nproc N`` / ``--nproc=N``."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Start ``python -m zelda_core ARGV`` in ``nproc`` processes; their exit status."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    from .._errors import ZeldaError

    if nproc < 1:
        raise ZeldaError(f"--nproc must be >= 1, got {nproc}")
    args = get_args_parser().parse_args(
        ["--standalone", f"--nproc-per-node={nproc}", "-m", "zelda_core", *without_nproc(argv)])
    try:
        run(args)
    except ChildFailedError as exc:
        failures = ", ".join(f"rank {f.global_rank} (exit code {f.exitcode})" for f in exc.failures.values())
        raise ZeldaError(f"{failures} failed; the process's message is above") from None
    return 0
