"""Submit ``zelda run`` as a SLURM job through submitit (imported here, when used)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._errors import ZeldaError
from .._install import install_hint
from .config import LaunchConfig
from .job import ZeldaSlurmJob


def executor_parameters(launch: LaunchConfig, job_name: str) -> dict[str, Any]:
    """submitit's SlurmExecutor parameters (sbatch options) for ``launch``."""
    params: dict[str, Any] = {
        "job_name": launch.job_name or job_name,
        "nodes": launch.nodes,
        "ntasks_per_node": launch.processes_per_node,
        "time": launch.minutes,
        "signal_delay_s": launch.signal_delay_s,
        # SLURM may put a preempted job back in the queue (the cluster's JobRequeue aside)
        "additional_parameters": {"requeue": True, **(launch.sbatch or {})},
    }
    if launch.gpus_per_node:
        params["gpus_per_node"] = launch.gpus_per_node
    if launch.mem_gb is not None:
        params["mem"] = f"{launch.mem_gb:g}GB"
    for key in ("cpus_per_task", "partition", "account", "qos", "constraint", "setup"):
        value = getattr(launch, key)
        if value is not None:
            params[key] = list(value) if key == "setup" else value
    return params


def submit(argv: Sequence[str], launch: LaunchConfig, work_dir: Path, job_name: str) -> Any:
    """Submit ``zelda ARGV`` (run in this directory) as a SLURM job; its logs and submitit's
    files go to ``WORK_DIR/slurm``. Returns submitit's job."""
    if shutil.which("sbatch") is None:
        raise ZeldaError("zelda run --slurm: 'sbatch' is not on PATH: run it on a SLURM login node "
                         "(or load the cluster's slurm module first)")
    try:
        import submitit
    except ImportError:
        raise ZeldaError(f"zelda run --slurm needs submitit: {install_hint('slurm')}") from None
    folder = work_dir / "slurm"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from .._errors import os_error_message

        raise ZeldaError(os_error_message(exc, "create", folder)) from None
    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=launch.requeues)
    executor.update_parameters(**executor_parameters(launch, job_name))
    try:
        return executor.submit(ZeldaSlurmJob(list(argv), os.getcwd()))
    except Exception as exc:  # sbatch refused it: its own words say why
        raise ZeldaError(f"sbatch refused the job: {str(exc).strip()}") from None
