"""Several processes (torchrun): the process group, DDP wrapping and the few collectives
the engine needs, all from ``torch.distributed``.

A process is part of a distributed run when torchrun (or ``zelda run --nproc``, which
calls torch.distributed.run) set ``WORLD_SIZE`` > 1 in its environment. NCCL is used when
each process has a CUDA device (``LOCAL_RANK`` picks it), gloo otherwise. Without torchrun
every helper here is the one-process identity.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NoReturn

import torch
import torch.distributed as dist
from torch import nn

from .errors import TrainingError


@dataclass(frozen=True)
class Dist:
    """This process's place in the run (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    gpu: torch.device | None = None  # this rank's GPU in a distributed CUDA run (NCCL)
    enabled: bool = field(init=False)  # more than one process
    is_main: bool = field(init=False)  # rank 0: the process that writes the work dir

    def __post_init__(self) -> None:  # plain fields: reading them calls nothing
        object.__setattr__(self, "enabled", self.world_size > 1)
        object.__setattr__(self, "is_main", self.rank == 0)


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def launched() -> bool:
    """Whether torchrun started this process as one of several."""
    return _env_int("WORLD_SIZE", 1) > 1 and "RANK" in os.environ


def context() -> Dist:
    """This process's rank and world size (from the process group once it exists)."""
    if dist.is_available() and dist.is_initialized():
        return Dist(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0), local_device())
    return Dist()


def restart_count() -> int:
    """How often this run's processes were started again: by torchrun after a failure
    (``--max-restarts``), or by SLURM after a preemption or requeue (``SLURM_RESTART_COUNT``,
    set in a requeued job). A restarted run resumes from its work dir's ``last.pth``."""
    return max(_env_int("TORCHELASTIC_RESTART_COUNT", 0), _env_int("SLURM_RESTART_COUNT", 0))


def restart_cause() -> str:
    """Who restarted the processes, for the log."""
    torchrun = _env_int("TORCHELASTIC_RESTART_COUNT", 0)
    if torchrun:
        return f"torchrun restarted the processes (restart {torchrun})"
    return f"SLURM requeued job {os.environ.get('SLURM_JOB_ID', '?')} (restart {_env_int('SLURM_RESTART_COUNT', 0)})"


def wants_cuda(device: str) -> bool:
    return device in ("auto", "cuda") and torch.cuda.is_available()


def setup(device: str = "auto") -> Dist:
    """Join the process group torchrun describes (idempotent; a no-op without torchrun).

    ``device`` is ``train.device``: 'auto'/'cuda' with CUDA present -> NCCL and the GPU
    ``LOCAL_RANK``; otherwise gloo on CPU."""
    if not launched() or dist.is_initialized():
        return context()
    local = _env_int("LOCAL_RANK", 0)
    if device.startswith("cuda:"):
        raise TrainingError(
            f"train.device = {device!r} names one GPU, but torchrun started several processes: "
            "use train.device = 'cuda' or 'auto' (each process takes the GPU LOCAL_RANK)")
    if wants_cuda(device):
        if local >= torch.cuda.device_count():
            raise TrainingError(f"LOCAL_RANK {local} but this machine has {torch.cuda.device_count()} "
                                "CUDA device(s): start at most that many processes per node")
        torch.cuda.set_device(local)
        dist.init_process_group("nccl", device_id=torch.device("cuda", local), **_restart_store())
    else:
        dist.init_process_group("gloo", timeout=PG_TIMEOUT, **_restart_store())
    return context()


PG_TIMEOUT = timedelta(minutes=30)


def _restart_store() -> dict[str, Any]:
    """After torchrun restarted the group (``--max-restarts``), the store it describes may
    still hold the killed attempt's process-group keys (a dead peer's address, which the
    new group would try to connect to): join under a prefix of this restart's own. The
    first attempt joins through ``env://`` as usual (empty result)."""
    restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or "0"
    if restart == "0" or "MASTER_ADDR" not in os.environ:
        return {}
    rank, world = _env_int("RANK", 0), _env_int("WORLD_SIZE", 1)
    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"  # torchrun hosts it
    store = dist.TCPStore(os.environ["MASTER_ADDR"], _env_int("MASTER_PORT", 29500), world,
                          is_master=not agent and rank == 0, timeout=PG_TIMEOUT,
                          multi_tenant=not agent)
    return {"store": dist.PrefixStore(f"zelda/restart_{restart}", store), "rank": rank,
            "world_size": world}


def teardown(finished: bool = False) -> None:
    """Leave the process group at the end of a command.

    ``finished``: the command ran to its end on this rank. Every rank then waits for the
    others first, so that none leaves the group (or exits) while another still talks to
    it. After an error nobody waits: the failing rank exits at once and torchrun stops the
    others."""
    if dist.is_available() and dist.is_initialized():
        try:
            if finished and context().enabled:
                dist.barrier()
        finally:
            dist.destroy_process_group()


def end_worker(code: int) -> NoReturn:
    """End a torchrun worker with exit status ``code``, skipping the interpreter's native
    teardown.

    torchrun's agent runs its exit barrier only when its workers exit 0; a worker that
    dies at exit (SIGABRT, "terminate called without an active exception") fails its node
    and leaves every other node waiting 300 s in that barrier (docs/distributed.md).
    Native threads outlive ``destroy_process_group``: the DDP reducer keeps the gloo
    group, with its ``gloo_tcp_loop`` and ``pt_gloo_runloop`` threads, alive until the
    process ends, and decoder libraries run their own threads. The Python-level exit
    work runs as usual (``atexit``: logging, DataLoader worker processes, files), then
    the process ends with ``code`` before the interpreter tears down modules and C++
    static objects under those running threads."""
    import atexit
    import sys

    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # closed or gone: nothing more to say
                pass
        os._exit(code)


def local_device() -> torch.device | None:
    """The device of this rank in a distributed CUDA run (None otherwise)."""
    if dist.is_available() and dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", _env_int("LOCAL_RANK", 0))
    return None


# --- collectives (identity with one process) -----------------------------------------

def barrier() -> None:
    if context().enabled:
        dist.barrier()


def broadcast(obj: Any, src: int = 0) -> Any:
    """``obj`` of rank ``src`` on every rank (picklable objects, e.g. a checkpoint dict)."""
    if not context().enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, device=local_device())
    return box[0]


def all_gather(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order."""
    ctx = context()
    if not ctx.enabled:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def all_sum(values: torch.Tensor) -> torch.Tensor:
    """Element-wise sum over ranks (a new tensor; the input is left alone)."""
    values = values.clone()
    if context().enabled:
        dist.all_reduce(values)
    return values


def sync_buffers(model: nn.Module) -> None:
    """Rank 0's buffers (e.g. BatchNorm running statistics) on every rank: what the
    checkpoint holds is then what every rank evaluates with."""
    if context().enabled:
        for buf in model.buffers():
            dist.broadcast(buf, 0)


# --- the model under DDP -------------------------------------------------------------

class LossModule(nn.Module):
    """``forward(inputs, labels) = model.loss(inputs, labels)``: DDP synchronizes gradients
    of what runs through its ``forward``, and a model's training entry point is ``loss``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.model.loss(inputs, labels)


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """The module whose ``forward(inputs, labels)`` is the loss: DistributedDataParallel
    around ``LossModule(model)`` in a distributed run, else ``LossModule(model)``."""
    module = LossModule(model)
    if not context().enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)
