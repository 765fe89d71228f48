"""A single-node SLURM cluster for tests: slurmctld + slurmd (Debian's slurm-wlm) on
127.0.0.1, with a config written into a temporary folder, started and stopped by the test.

It needs root (slurmd starts jobs as their user) and the slurm-wlm binaries;
:func:`missing` says what is missing. Authentication is ``auth/none`` (no munge daemon):
the daemons listen on 127.0.0.1 only, on free ports, for the test's lifetime.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

BINARIES = ("slurmctld", "slurmd", "sbatch", "srun", "scontrol", "squeue")


def missing() -> str | None:
    """Why a cluster cannot start here (None: it can)."""
    absent = [b for b in BINARIES if shutil.which(b) is None]
    if absent:
        return (f"SLURM is not installed ({', '.join(absent)} missing): apt-get install slurm-wlm "
                "(the nox session 'slurm' does so as root)")
    if os.geteuid() != 0:
        return "starting slurmd needs root (it starts jobs as their user)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """The daemons of one cluster; ``env`` is what a client command needs (SLURM_CONF)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.conf = folder / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self._daemons: list[subprocess.Popen] = []

    def start(self, timeout: float = 60) -> Cluster:
        host = socket.gethostname()
        for sub in ("state", "spool", "log"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        f = self.folder
        self.conf.write_text("\n".join([
            "ClusterName=zeldatest",
            f"SlurmctldHost={host}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "AuthType=auth/none",
            "CredType=cred/none",
            f"StateSaveLocation={f / 'state'}",
            f"SlurmdSpoolDir={f / 'spool'}",
            f"SlurmctldPidFile={f / 'slurmctld.pid'}",
            f"SlurmdPidFile={f / 'slurmd.pid'}",
            f"SlurmctldLogFile={f / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={f / 'log' / 'slurmd.log'}",
            "ProctrackType=proctrack/pgid",
            "TaskPlugin=task/none",
            "MpiDefault=none",
            "SchedulerType=sched/builtin",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "ReturnToService=2",
            "JobRequeue=1",
            "KillWait=20",
            "MinJobAge=3600",
            f"NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} State=UNKNOWN",
            f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
        ]) + "\n")
        for daemon in (["slurmctld", "-D", "-i"], ["slurmd", "-D"]):
            log = open(f / "log" / f"{daemon[0]}.out", "wb")  # noqa: SIM115 - lives with the daemon
            self._daemons.append(subprocess.Popen([*daemon, "-f", str(self.conf)], env=self.env,
                                                  stdout=log, stderr=subprocess.STDOUT))
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run("sinfo", "-h", "-o", "%t", check=False).stdout.strip()
            if state == "idle":
                return self
            if any(d.poll() is not None for d in self._daemons):
                break
            time.sleep(0.5)
        logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in (f / "log").glob("*"))
        self.stop()
        raise RuntimeError(f"the test cluster did not come up (sinfo: {state!r}):\n{logs}")

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, check=check, timeout=60)

    def job_state(self, job_id: str) -> str:
        """PENDING, RUNNING, COMPLETED, FAILED, ... ('' once SLURM forgot the job)."""
        out = self.run("scontrol", "show", "job", job_id, check=False).stdout
        for word in out.split():
            if word.startswith("JobState="):
                return word.split("=", 1)[1]
        return ""

    def stop(self) -> None:
        """Cancel every job, then end the daemons (SIGTERM, then SIGKILL)."""
        if self._daemons and self._daemons[0].poll() is None:
            self.run("scancel", "--full", "--user=root", check=False)
            time.sleep(1)
        for proc in reversed(self._daemons):
            if proc.poll() is None:
                proc.terminate()
        for proc in self._daemons:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._daemons.clear()
