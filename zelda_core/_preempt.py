"""A stop the scheduler asks for (SLURM's preemption or time-limit signal), taken at a step.

``install`` makes SIGTERM/SIGUSR2 set a flag instead of ending the process; nothing is
done inside the signal handler. The training loop reads the flag: it finishes the step
it is in, saves ``last.pth`` there and raises :class:`Preempted`, which the SLURM job
(``zelda_core._slurm.job``) turns into a requeue. Without ``install`` (every run that
SLURM did not start through ``zelda run --slurm``) the flag is never set.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable

_installed = False
_received: list[int] = []  # the signals received, in order


class Preempted(Exception):  # noqa: N818 - a stop asked for, not an error
    """Training stopped at a saved checkpoint because the scheduler asked (``signum``)."""

    def __init__(self, signum: int, where: str):
        super().__init__(f"stopped on {signal.Signals(signum).name}: {where}")
        self.signum = signum
        self.where = where


def _record(signum: int, frame: object) -> None:
    _received.append(signum)


def install(signums: Iterable[int] = (signal.SIGTERM, signal.SIGUSR2)) -> None:
    """From now on ``signums`` only ask the training loop to stop at its next step."""
    global _installed
    for signum in signums:
        signal.signal(signum, _record)
    _installed = True


def installed() -> bool:
    return _installed


def requested() -> int | None:
    """The first signal that asked for a stop (None: none did)."""
    return _received[0] if _received else None


def worker_init(worker_id: int) -> None:
    """DataLoader workers ignore the stop signals: the scheduler signals every process of
    the job, and a worker that died of it would fail the step before the checkpoint. The
    training process decides; its workers end with it."""
    if _installed:
        for signum in (signal.SIGTERM, signal.SIGUSR2):
            signal.signal(signum, signal.SIG_IGN)
