"""``data.workers = "auto"``: loader processes from the cores each training process owns."""

from __future__ import annotations

import os
from typing import Any


def local_processes() -> int:
    """Training processes sharing this machine's cores: torchrun's ``LOCAL_WORLD_SIZE``,
    else one per local GPU (a single-GPU or CPU machine: 1)."""
    n = int(os.environ.get("LOCAL_WORLD_SIZE", "0") or 0)
    if n > 0:
        return n
    try:
        import torch

        return max(1, torch.cuda.device_count())
    except ImportError:  # pragma: no cover - torch is a dependency
        return 1


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a SLURM allocation)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def auto_workers(cores: int | None = None, processes: int | None = None) -> int:
    """Cores per training process, minus one for the process itself (at least 1)."""
    cores = usable_cores() if cores is None else cores
    processes = local_processes() if processes is None else processes
    return max(1, cores // max(1, processes) - 1)


def resolve_workers(value: Any) -> int:
    """``data.workers`` as a number: ``"auto"`` -> :func:`auto_workers`."""
    return auto_workers() if value == "auto" else int(value)
