"""The ``[launch]`` table (and ``zelda run --slurm``'s flags): where a SLURM job runs.

``LaunchConfig``'s annotations are the schema; ``zelda_core._params`` checks a recipe's
``[launch]`` against them (``zelda recipe check`` reports its problems with the rest).
No SLURM or submitit import here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any

from .._errors import RecipeError
from .._params import param_problems


@dataclass(frozen=True)
class LaunchConfig:
    """Every key of ``[launch]`` (docs/distributed.md, "SLURM")."""

    nodes: int = 1
    gpus_per_node: int = 0
    tasks_per_node: int | None = None  # processes per node; default gpus_per_node, else 1
    cpus_per_task: int | None = None
    mem_gb: float | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    time: int | str = 60  # minutes, or "[D-]HH:MM:SS"
    job_name: str | None = None
    requeues: int = 3  # time limits the job survives by requeueing
    signal_delay_s: int = 120  # SLURM's warning before the time limit
    setup: list[str] | None = None  # shell lines before the run (module load, source .venv/...)
    sbatch: dict[str, Any] | None = None  # any other sbatch option, e.g. { exclusive = true }

    @property
    def processes_per_node(self) -> int:
        return self.tasks_per_node or self.gpus_per_node or 1

    @property
    def minutes(self) -> int:
        minutes = time_minutes(self.time)
        assert minutes is not None  # checked by launch_errors
        return minutes


_TIME = re.compile(r"^(?:(\d+)-)?(\d+):(\d{1,2}):(\d{1,2})$")


def time_minutes(value: Any) -> int | None:
    """``time`` in whole minutes (seconds round up); None when it is not a time."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value > 0 else None
    match = _TIME.match(value.strip()) if isinstance(value, str) else None
    if not match:
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = days * 1440 + hours * 60 + minutes + (1 if seconds else 0)
    return total if total > 0 and minutes < 60 and seconds < 60 else None


_MINIMUM = {"nodes": 1, "gpus_per_node": 0, "tasks_per_node": 1, "cpus_per_task": 1, "requeues": 0,
            "signal_delay_s": 1}


def launch_errors(table: Any, file: str | None, prefix: str = "launch") -> list[RecipeError]:
    """Every problem with ``[launch]`` (``prefix``: how its keys are named in messages)."""
    if table is None:
        return []
    if not isinstance(table, dict):
        return [RecipeError("must be a table: [launch] with nodes, gpus_per_node, partition, time, ...",
                            file=file, key=prefix)]
    errors = [RecipeError(sentence, file=file, key=f"{prefix}.{key}")
              for key, sentence in param_problems(LaunchConfig, table)]
    for key, low in _MINIMUM.items():
        value = table.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value < low:
            errors.append(RecipeError(f"must be >= {low}, got {value}", file=file, key=f"{prefix}.{key}"))
    mem = table.get("mem_gb")
    if isinstance(mem, (int, float)) and not isinstance(mem, bool) and mem <= 0:
        errors.append(RecipeError(f"must be > 0, got {mem}", file=file, key=f"{prefix}.mem_gb"))
    if "time" in table and isinstance(table["time"], (int, str)) and time_minutes(table["time"]) is None:
        errors.append(RecipeError(
            f"expects minutes (an integer > 0) or \"HH:MM:SS\" / \"D-HH:MM:SS\", got {table['time']!r}",
            file=file, key=f"{prefix}.time"))
    return errors


FLAGS = ("nodes", "gpus_per_node", "partition", "time", "account")
"""The keys ``zelda run --slurm`` also takes as flags (--nodes, --gpus-per-node, ...)."""


def resolve_launch(table: Any, flags: dict[str, Any], file: str | None) -> LaunchConfig:
    """``[launch]`` with the command line's flags over it (None: not given), checked."""
    errors = launch_errors(table, file)
    given = {k: v for k, v in flags.items() if v is not None}
    if isinstance(given.get("time"), str) and given["time"].isdigit():
        given["time"] = int(given["time"])
    errors += [RecipeError(f"--{(e.key or '').split('.', 1)[-1].replace('_', '-')}: {e.reason}")
               for e in launch_errors(given, None)]
    if errors:
        if len(errors) == 1:
            raise errors[0]
        raise RecipeError(f"{len(errors)} problems:\n" + "\n".join(f"- {e}" for e in errors))
    known = {f.name for f in fields(LaunchConfig)}
    return replace(LaunchConfig(**{k: v for k, v in (table or {}).items() if k in known}), **given)
