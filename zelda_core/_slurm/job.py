"""What each SLURM task of ``zelda run --slurm`` runs: one rank of the run.

submitit starts this callable in every task (``srun``); its ``JobEnvironment`` gives the
task's global and local rank, the number of tasks and the nodes. They become the
environment torchrun would give (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT`` on the first node), so the process takes zelda's usual
distributed path, then runs the ordinary ``zelda run`` command line.

Stops: SIGTERM (preemption, ``scontrol requeue``) and SIGUSR2 (submitit's warning before
the time limit) only ask the training loop to stop (``zelda_core._preempt``); it saves
``last.pth`` at its next step and raises ``Preempted``. On SIGUSR2 rank 0 then hands over
to submitit's own handler, which calls :meth:`ZeldaSlurmJob.checkpoint` and requeues the
job (``scontrol requeue``); on SIGTERM SLURM requeues it itself. The requeued job finds
``SLURM_RESTART_COUNT`` > 0 and resumes from the work dir's ``last.pth``.
"""

from __future__ import annotations

import os
import signal
from typing import Any

BASE_PORT = 20000


def rank_environment(env: Any, environ: dict[str, str]) -> dict[str, str]:
    """The torchrun-style variables for submitit's ``JobEnvironment`` ``env`` (values
    already in ``environ`` for MASTER_ADDR/MASTER_PORT win: a cluster may need its own)."""
    per_node = max(1, env.num_tasks // max(1, env.num_nodes))
    return {
        "RANK": str(env.global_rank),
        "WORLD_SIZE": str(env.num_tasks),
        "LOCAL_RANK": str(env.local_rank),
        "LOCAL_WORLD_SIZE": str(per_node),
        "GROUP_RANK": str(env.node),
        "MASTER_ADDR": environ.get("MASTER_ADDR") or env.hostnames[0],
        # one port per job, so two jobs whose first node is the same do not meet
        "MASTER_PORT": environ.get("MASTER_PORT") or str(BASE_PORT + int(env.job_id.split("_")[0]) % 20000),
    }


class ZeldaSlurmJob:
    """``zelda ARGV`` in directory ``cwd``, as one task of a SLURM job (picklable)."""

    def __init__(self, argv: list[str], cwd: str):
        self.argv = list(argv)
        self.cwd = cwd

    def __call__(self) -> int:
        import submitit

        from .. import _preempt
        from .._cli.main import main

        env = submitit.JobEnvironment()
        os.chdir(self.cwd)
        os.environ.update(rank_environment(env, dict(os.environ)))
        submitit_requeue = signal.getsignal(signal.SIGUSR2)  # submitit's checkpoint-and-requeue
        _preempt.install((signal.SIGTERM, signal.SIGUSR2))
        try:
            code = main(self.argv)
        except _preempt.Preempted as stop:
            if stop.signum == signal.SIGUSR2 and env.global_rank == 0 and callable(submitit_requeue):
                submitit_requeue(signal.SIGUSR2, None)  # calls checkpoint(), requeues, exits
            raise SystemExit(128 + stop.signum) from None  # SIGTERM: SLURM requeues by itself
        if code:
            raise SystemExit(code)  # zelda's message is in the log; the job is FAILED
        return code

    def checkpoint(self) -> Any:
        """The job to requeue: the same command; the work dir holds where it stopped."""
        import submitit

        return submitit.helpers.DelayedSubmission(ZeldaSlurmJob(self.argv, self.cwd))
