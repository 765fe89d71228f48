"""``zelda run --slurm`` on a real single-node SLURM cluster (slurmctld + slurmd started
here): the job is requeued mid-epoch with ``scontrol requeue`` (what a preemption does),
stops at a saved step, starts again and resumes, and ends with the logs and weights of
a run never interrupted.

Runs where slurm-wlm is installed and the tests run as root, when selected with
``-m slurm`` (the nox session ``slurm``; other runs leave it out)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import slurm_cluster  # noqa: E402
from engine_util import make_dataset, small_recipe  # noqa: E402
from extras import need  # noqa: E402

need("submitit", "slurm")
# the nox session 'slurm' sets ZELDA_TEST_SLURM=1: there a cluster that cannot start fails
_MISSING = None if os.environ.get("ZELDA_TEST_SLURM") == "1" else slurm_cluster.missing()
pytestmark = [pytest.mark.slurm, pytest.mark.decoder_independent,
              pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")]

ZELDA = [sys.executable, "-m", "zelda_core"]
STEPS = 40  # per epoch


@pytest.fixture
def cluster(tmp_path):
    c = slurm_cluster.Cluster(tmp_path / "cluster").start()
    yield c
    c.stop()


def _records(work: Path) -> list[dict]:
    path = work / "metrics.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def _wait(what, timeout: float, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(step)
    return None


@pytest.mark.parametrize("tasks, stop, workers", [(2, "requeue", 1), (1, "USR2", 0)])
def test_requeued_job_resumes_to_the_uninterrupted_result(tmp_path, cluster, tasks, stop, workers):
    """``tasks`` processes (gloo; the uninterrupted run is ``--nproc tasks`` here), stopped
    by ``scontrol requeue`` (SIGTERM, as a preemption: SLURM requeues the job; SLURM
    signals the loader workers too) or by the time limit's warning (SIGUSR2, as submitit
    sends it for a test: the job requeues itself through submitit)."""
    root = make_dataset(tmp_path / "data", n_train=STEPS * tasks, n_val=2)
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "unused", epochs=2,
                          extra="checkpoint_iters = 1000")  # only the stop saves mid-epoch
    common = ["--set", "data.batch_size=1", "--set", "model.head.dropout=0.5", "--set", f"data.workers={workers}",
              "--set", "train.device=\"cpu\"", "--no-plots"]
    env = {**cluster.env, "OMP_NUM_THREADS": "1"}  # the same threads here and in the job
    straight, job_dir = tmp_path / "straight", tmp_path / "job"
    subprocess.run([*ZELDA, "run", str(recipe), "--work-dir", str(straight), *common,
                    *(["--nproc", str(tasks)] if tasks > 1 else [])],
                   cwd=tmp_path, env=env, check=True, capture_output=True)

    out = subprocess.run([*ZELDA, "run", str(recipe), "--slurm", "--time", "10",
                          "--set", f"launch.tasks_per_node={tasks}",
                          "--work-dir", str(job_dir), *common],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    job_id = out.stdout.split()[3].rstrip(":")
    log = job_dir / "slurm" / f"{job_id}_0_log.err"

    # preempt it in epoch 1, a few steps in (STEPS steps: far from the epoch's end, also
    # on an idle machine)
    assert _wait(lambda: any(r["type"] == "train" and r["iter"] >= 2 for r in _records(job_dir)), 240), \
        f"the job never trained: {cluster.job_state(job_id)}\n{log.read_text() if log.exists() else ''}"
    if stop == "requeue":
        cluster.run("scontrol", "requeue", job_id)
    else:
        cluster.run("scancel", "--signal=USR2", job_id)
    assert _wait(lambda: cluster.job_state(job_id) == "PENDING", 60), cluster.job_state(job_id)
    stopped = [r for r in _records(job_dir) if r["type"] == "checkpoint"]
    assert stopped and stopped[-1]["epoch"] == 1 and 2 <= stopped[-1]["iter"] < STEPS, \
        f"the job did not save where it stopped: {stopped}\n{log.read_text()}"
    cluster.run("scontrol", "update", f"JobId={job_id}", "StartTime=now")  # SLURM waits ~2 min
    ended = _wait(lambda: (state := cluster.job_state(job_id)) in ("COMPLETED", "FAILED", "CANCELLED")
                  and state, 300, 1)
    assert ended == "COMPLETED", f"{cluster.job_state(job_id)}\n{log.read_text()}"

    text = (job_dir / "train.log").read_text()
    signame = "SIGTERM" if stop == "requeue" else "SIGUSR2"
    assert f"the scheduler asked the run to stop (stopped on {signame}: epoch 1, after batch" in text
    assert f"SLURM requeued job {job_id} (restart 1): resuming from" in text
    if stop == "USR2":  # submitit's own requeue, counted against launch.requeues (3)
        logs = "".join(p.read_text() for p in (job_dir / "slurm").glob(f"{job_id}_0_log.*"))
        assert f"Requeued job {job_id} (2 remaining timeouts)" in logs, logs
    if tasks > 1:
        assert f"{tasks} processes (gloo): batch 1 per process, {tasks} per step" in text
    # the logs read as one run: each step once, the same losses and val metrics
    ra, rb = _records(straight), _records(job_dir)
    for kind in ("train", "epoch", "val"):
        keys = ("epoch", "iter", "loss") if kind == "train" else ("epoch", "loss", "top1", "mean_class_accuracy")
        a = [{k: r.get(k) for k in keys} for r in ra if r["type"] == kind]
        b = [{k: r.get(k) for k in keys} for r in rb if r["type"] == kind]
        assert a == b, f"{kind} records differ"
    wa = torch.load(straight / "checkpoints" / "last.pth", weights_only=True)["model"]
    wb = torch.load(job_dir / "checkpoints" / "last.pth", weights_only=True)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    summary = json.loads((job_dir / "summary.json").read_text())
    assert summary["val"] == json.loads((straight / "summary.json").read_text())["val"]
    assert not os.path.exists(job_dir / ".zelda.lock")
