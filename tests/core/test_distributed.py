"""Distributed training on torchrun (CPU, gloo, real subprocesses): N processes at batch b
train exactly as one process at batch N*b.

Each multi-process run costs a few seconds of process start-up, so the module shares its
runs: one reference run in this process per configuration, and one launch per feature
(``zelda run --nproc``, two torchrun "nodes" on 127.0.0.1, a SIGKILL under --max-restarts,
a failing rank). The stress test (marker ``stress``, run only with ``-m stress``) repeats
the two-node run beside a busy loop.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from engine_util import make_dataset, small_recipe  # noqa: E402
from media import make_corrupt  # noqa: E402

pytestmark = [pytest.mark.distributed, pytest.mark.skipif(
    not torch.distributed.is_available(), reason="this torch build has no torch.distributed")]

REPO = Path(__file__).resolve().parents[2]
LR0 = 'train.optimizer={type = "SGD", lr = 0.0}'
SGD = 'train.optimizer={type = "SGD", lr = 0.02, momentum = 0.9}'
SGD_EXTRA = ("train.checkpoint_iters=1", "train.accumulate=2",  # DDP's no_sync on step 1 of 2
             "train.ema={decay = 0.5}", "train.finetune={layer_decay = 0.5}")  # kept in parity too
EPOCHS = 4
TIMEOUT = 300


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    e.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, decoder_name):
    """5 train videos, one unreadable (on_error = "skip" replaces it); steps of 2, 2, 1 at a
    global batch of 2: the last step leaves rank 1 empty. 3 val/test videos (not divisible
    by 2)."""
    base = tmp_path_factory.mktemp("ddp")
    root = make_dataset(base / "data", n_train=4, n_val=3)
    make_corrupt(root / "train" / "bad.mp4")
    with open(root / "kinetics_tiny_train_video.txt", "a") as f:
        f.write("bad.mp4 0\n")
    recipe = small_recipe(base / "r.toml", root, base / "unused", epochs=EPOCHS, test_split=True,
                          extra="sync_bn = true\nthreads = 1")
    text = recipe.read_text().replace('decoder = "pyav"', f'decoder = "{decoder_name}"\non_error = "skip"')
    recipe.write_text(text)
    return base, recipe


def overrides(work_dir: Path, batch: int, lr: str, *extra: str) -> list[str]:
    return ["--set", f"data.batch_size={batch}", "--set", "train.device=cpu", "--set", lr,
            "--work-dir", str(work_dir), *[x for e in extra for x in ("--set", e)]]


def reference(recipe: Path, work_dir: Path, lr: str, *extra: str) -> Path:
    """One process at batch 2, in this process."""
    from zelda_core._engine.train import run_training
    from zelda_core._recipe import load_recipe

    sets = [lr, "data.batch_size=2", "train.device=cpu", *extra]
    run_training(load_recipe(recipe, sets), work_dir=work_dir)
    return work_dir


def launch(args: list[str], **kw) -> subprocess.CompletedProcess:
    out = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, env=env(), cwd=REPO, **kw)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def records(work_dir: Path, kind: str) -> list[dict]:
    lines = (work_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["type"] == kind]


def step_losses(work_dir: Path) -> dict[tuple[int, int], float]:
    """Each step's loss (the last one logged: a restarted run logs some steps again)."""
    return {(r["epoch"], r["iter"]): r["loss"] for r in records(work_dir, "train")}


def assert_same_steps(a: Path, b: Path, rel: float, first: int | None = None) -> None:
    la, lb = step_losses(a), step_losses(b)
    assert la.keys() == lb.keys() and len(la) == 3 * EPOCHS
    for key in sorted(la)[:first]:
        assert la[key] == pytest.approx(lb[key], rel=rel), (key, la[key], lb[key])


@pytest.fixture(scope="module")
def lr0(setup):
    base, recipe = setup
    return reference(recipe, base / "B0", LR0)


@pytest.fixture(scope="module")
def sgd(setup):
    base, recipe = setup
    return reference(recipe, base / "B1", SGD, *SGD_EXTRA)


def test_nproc_equals_one_process_at_the_global_batch(setup, lr0, decoder_name):
    """`zelda run --nproc 2` at batch 1 (torch.distributed.run's API) == one process at batch 2:
    every step's loss with lr 0, the sharded validation and test (3 videos on 2 ranks)."""
    base, recipe = setup
    a = base / "A0"
    out = launch([sys.executable, "-m", "zelda_core", "run", str(recipe), "--nproc", "2",
                  *overrides(a, 1, LR0)])
    assert_same_steps(a, lr0, rel=1e-5)
    va, vb = records(a, "val"), records(lr0, "val")
    assert [r["samples"] for r in va] == [3.0] * EPOCHS
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in va] == \
           [{k: v for k, v in r.items() if k != "seconds"} for r in vb]
    # the unreadable video: skipped where one process skips it, reported once each time
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, lr0))
    assert sa["skipped"] == sb["skipped"] and sa["skipped"] and sa["skipped"][0][0].endswith("bad.mp4")
    logs = [(d / "train.log").read_text() for d in (a, lr0)]
    assert logs[0].count("skipped /") == logs[1].count("skipped /") == len(sa["skipped"])
    ta, tb = (json.loads((d / "test_metrics.json").read_text()) for d in (a, lr0))
    assert ta["metrics"] == tb["metrics"] and ta["metrics"]["samples"] == 3.0
    for name in ("test/confusion_matrix.csv", "val/confusion_matrix.csv"):
        assert (a / name).read_text() == (lr0 / name).read_text()
    # rank 0 alone writes: one summary, one log line per epoch, no rank-1 output files
    assert (a / "summary.json").exists()
    assert (a / "train.log").read_text().count(f"epoch {EPOCHS}/{EPOCHS}") == 1
    assert "2 processes (gloo): batch 1 per process, 2 per step" in out.stdout
    ck = torch.load(a / "checkpoints" / "last.pth", weights_only=True)
    assert ck["world_size"] == 2 and ck["samples_per_step"] == 2
    assert set(ck["model"]) == set(torch.load(lr0 / "checkpoints" / "last.pth", weights_only=True)["model"])
    if decoder_name != "pyav":  # what follows has nothing decoder-specific: once in CI
        return
    # zelda test --dump on 2 ranks: rank 0 writes every video's line, in one process's order
    dumps = []
    for nproc, name in ((["--nproc", "2"], "d2.jsonl"), ([], "d1.jsonl")):
        launch([sys.executable, "-m", "zelda_core", "test", str(recipe), "-c", str(a / "checkpoints" / "last.pth"),
                "--set", "train.device=cpu", "--out", str(base / f"{name}.json"), "--dump", str(base / name),
                *nproc])
        dumps.append((base / name).read_text().splitlines())
    assert len(dumps[0]) == 3 and dumps[0] == dumps[1]


REPEATED_PIPELINE = (
    '[{ type = "segment_sample", clip_len = 4 }, { type = "decode" }, '
    '{ type = "resize", size = 40 }, { type = "random_resized_crop" }, '
    '{ type = "resize", size = [32, 32] }, { type = "flip" }, '
    '{ type = "rand_augment", num_ops = 4, magnitude = 7, magnitude_std = 0.5 }, '
    '{ type = "random_erasing", p = 0.5, mode = "pixel" }, { type = "format_shape" }, { type = "pack" }]')


@pytest.mark.decoder_independent
def test_repeated_augmentation_keeps_one_process_parity(setup, tmp_path):
    """data.repeated_augmentation = 2 with the clip-level augmentations: `--nproc 2` at
    batch 1 (each video's two copies on the two ranks) trains, step by step, on the clips of
    one process at batch 2 (both copies in one batch): the same loss at every step (lr 0)."""
    base, recipe = setup
    extra = ("data.repeated_augmentation=2", f"data.train.pipeline={REPEATED_PIPELINE}",
             "train.epochs=1")
    one = reference(recipe, tmp_path / "one", LR0, *extra)
    two = tmp_path / "two"
    launch([sys.executable, "-m", "zelda_core", "run", str(recipe), "--nproc", "2",
            *overrides(two, 1, LR0, *extra)])
    la, lb = step_losses(two), step_losses(one)
    assert la.keys() == lb.keys() and len(la) == 5  # 5 videos x 2 copies, 2 per step
    for key in la:
        assert la[key] == pytest.approx(lb[key], rel=1e-5), (key, la[key], lb[key])


NODE_TIMEOUT = 200
"""Seconds two torchrun nodes get to finish: less than torchrun's 300 s exit barrier, so
that a node left waiting in it fails the test instead of passing late."""

ABORT_AT_TEARDOWN = """
import os
if os.environ.get("RANK") == "1":  # a worker, not the agent
    class _AbortAtTeardown:
        def __del__(self):
            os.abort()
    _keep = _AbortAtTeardown()
"""
"""A sitecustomize that aborts (SIGABRT) rank 1 while the interpreter tears its modules
down: what a native library does when one of its threads is still running then (decord
once printed "terminate called without an active exception" at exit)."""


def two_nodes(recipe: Path, work_dir: Path, *extra: str, extra_env: dict[str, str] | None = None,
              timeout: float = NODE_TIMEOUT) -> list[tuple[int | None, str]]:
    """Two torchrun agents acting as two machines (--nnodes=2, c10d on 127.0.0.1), each
    with one worker: (exit status, stderr) per agent; None for an agent still running
    after ``timeout`` seconds (it and its worker are then killed)."""
    port = free_port()
    e = {**env(), "LOGLEVEL": "INFO", **(extra_env or {})}  # INFO: the agents log their exit barrier
    procs = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", f"--node-rank={rank}",
         "--nproc-per-node=1", "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}",
         "--rdzv-id=zelda-test", "-m", "zelda_core", "run", str(recipe), *overrides(work_dir, 1, LR0, *extra)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=e, cwd=REPO,
        start_new_session=True)  # its own process group: a stuck node is killed with its worker
        for rank in (0, 1)]
    deadline = time.monotonic() + timeout
    out: list[tuple[int | None, str]] = []
    for p in procs:
        try:
            _, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            out.append((p.returncode, err))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            _, err = p.communicate()
            out.append((None, err))
    return out


def barrier_waits(stderr: str) -> list[float]:
    """Seconds the agent waited in torchrun's exit barrier (its INFO log)."""
    return [float(line.rsplit("Elapsed: ", 1)[1].split()[0]) for line in stderr.splitlines()
            if "Done waiting for other agents. Elapsed: " in line]


def test_two_torchrun_nodes_with_c10d_rendezvous(setup, lr0, tmp_path):
    """Two torchrun invocations acting as two machines (--nnodes=2, c10d on 127.0.0.1)
    train as one process at the global batch, and both exit 0 at once, even though rank
    1's interpreter aborts in its teardown (a worker that died at exit failed its node,
    and torchrun left the other node waiting 300 s in its exit barrier)."""
    base, recipe = setup
    a = base / "nodes"
    (tmp_path / "sitecustomize.py").write_text(ABORT_AT_TEARDOWN)
    nodes = two_nodes(recipe, a, extra_env={"PYTHONPATH": os.pathsep.join(
        [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])])})
    for rc, err in nodes:
        assert rc == 0, err[-3000:]
        assert "Error waiting on exit barrier" not in err and max(barrier_waits(err)) < 60, err[-3000:]
    assert_same_steps(a, lr0, rel=1e-5)
    assert json.loads((a / "summary.json").read_text())["val"] == \
           json.loads((lr0 / "summary.json").read_text())["val"]


STRESS_REPEATS = int(os.environ.get("ZELDA_STRESS_REPEATS", "20"))


@pytest.mark.stress
def test_two_nodes_exit_0_every_time_beside_a_busy_loop(setup, lr0):
    """The two-node run, ZELDA_STRESS_REPEATS times (20) beside a busy loop, with the
    tutorial recipe's loader (2 persistent workers): every time both nodes exit 0, no
    node waits in torchrun's exit barrier, and the metrics are the one-process ones."""
    base, recipe = setup
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    failures = []
    try:
        for i in range(STRESS_REPEATS):
            a = base / f"stress{i}"
            nodes = two_nodes(recipe, a, "data.workers=2", "data.persistent_workers=true")
            for node, (rc, err) in enumerate(nodes):
                waits = barrier_waits(err)
                if rc != 0 or "Error waiting on exit barrier" in err or not waits or max(waits) >= 60:
                    failures.append(f"repetition {i + 1}, agent {node}: exit {rc}, exit barrier "
                                    f"waits {waits}\n{err[-2000:]}")
            if not any(f.startswith(f"repetition {i + 1},") for f in failures):
                assert json.loads((a / "summary.json").read_text())["val"] == \
                       json.loads((lr0 / "summary.json").read_text())["val"]
            shutil.rmtree(a, ignore_errors=True)
    finally:
        busy.kill()
        busy.wait()
    assert not failures, f"{len(failures)} failed node(s) in {STRESS_REPEATS} runs:\n" + "\n".join(failures)


def _worker(agent: int, rank: int) -> int | None:
    """The pid of torchrun agent ``agent``'s worker with RANK=rank."""
    pids = []
    for children in Path(f"/proc/{agent}/task").glob("*/children"):  # any thread may spawn them
        try:
            pids += children.read_text().split()
        except OSError:
            continue
    for pid in pids:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ:
            return int(pid)
    return None


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the worker through /proc (Linux)")
def test_sigkill_under_max_restarts_resumes_and_resume_across_world_sizes(setup, sgd, tmp_path):
    """SIGKILL rank 1 mid-run: torchrun restarts the group, which resumes from last.pth and
    finishes; every step then matches one process at batch 2 (no step lost or trained
    twice beyond the checkpoint interval; gradient accumulation under DDP included). The
    mid-epoch last.pth of the 2-process run, resumed by one process, also continues at the
    right sample."""
    base, recipe = setup
    a = base / "killed"
    agent = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
         "--max-restarts=2", "-m", "zelda_core", "run", str(recipe),
         *overrides(a, 1, SGD, *SGD_EXTRA)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=REPO)
    killed = None
    deadline = time.monotonic() + TIMEOUT
    try:
        while killed is None and agent.poll() is None and time.monotonic() < deadline:
            saves = records(a, "checkpoint") if (a / "metrics.jsonl").exists() else []
            pid = _worker(agent.pid, 1)
            if saves and pid:  # the first mid-epoch checkpoint: the run has epochs to go
                os.kill(pid, signal.SIGKILL)
                killed = saves[-1]
                shutil.copy(a / "checkpoints" / "last.pth", tmp_path / "mid.pth")
            time.sleep(0.02)
        _, err = agent.communicate(timeout=TIMEOUT)
    finally:
        if agent.poll() is None:  # never leave the run behind: torchrun stops its workers on SIGTERM
            agent.terminate()
            try:
                agent.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                for pid in filter(None, (_worker(agent.pid, r) for r in (0, 1))):
                    os.kill(pid, signal.SIGKILL)
                agent.kill()
    assert killed is not None, "the run ended before a worker could be killed"
    assert killed["epoch"] < EPOCHS
    assert agent.returncode == 0, err[-3000:]
    summary = json.loads((a / "summary.json").read_text())
    assert summary["epochs"] == EPOCHS
    log = (a / "train.log").read_text()
    assert "torchrun restarted the processes (restart " in log and "): resuming from" in log, err[-3000:]
    assert_same_steps(a, sgd, rel=1e-4)
    assert_same_steps(a, sgd, rel=1e-5, first=1)  # the first step exactly
    # the weight average (train.ema), resumed after the restart, is one process's
    ema_a, ema_b = (torch.load(d / "checkpoints" / "last.pth", weights_only=True)["ema"] for d in (a, sgd))
    assert ema_a["updates"] == ema_b["updates"] > 0
    for key, value in ema_b["model"].items():
        torch.testing.assert_close(ema_a["model"][key], value, rtol=1e-4, atol=1e-6, msg=key)
    assert "layer_decay 0.5: layer i of 0..2" in log

    # resume across world sizes: the 2-process (mid-epoch) checkpoint in one process
    mid = torch.load(tmp_path / "mid.pth", weights_only=True)
    assert mid["samples_per_step"] == 2
    one = tmp_path / "one"
    from zelda_core._engine.train import run_training
    from zelda_core._recipe import load_recipe

    run_training(load_recipe(recipe, [SGD, "data.batch_size=2", "train.device=cpu", *SGD_EXTRA]),
                 work_dir=one, resume=tmp_path / "mid.pth")
    resumed = step_losses(one)
    assert min(resumed) == (mid["epoch"] + 1, mid["iter_in_epoch"] + 1)  # the next step on
    ref = step_losses(sgd)
    for key, value in resumed.items():
        assert value == pytest.approx(ref[key], rel=1e-4), key


def test_a_failing_rank_stops_the_job_with_its_message(setup, tmp_path):
    """An unreadable video on one rank (on_error = "raise"): the job ends (no hang) with
    that rank's message."""
    base, recipe = setup
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                          "-m", "zelda_core", "run", str(recipe),
                          *overrides(tmp_path / "w", 1, SGD, 'data.on_error="raise"')],
                         capture_output=True, text=True, timeout=TIMEOUT, env=env(), cwd=REPO)
    assert out.returncode != 0
    assert "zelda: error:" in out.stderr and "bad.mp4" in out.stderr, out.stderr[-3000:]
    assert time.monotonic() - t0 < TIMEOUT


def test_resume_position_across_global_batches(tmp_path):
    """A mid-epoch checkpoint of a run with 2 samples per step, resumed at 1 or 3 per step,
    continues at the same sample (rounded down to a step of the new run, said so)."""
    from engine_util import quick_config, toy_batches, toy_model

    from zelda_core._engine.assemble import build_training
    from zelda_core._engine.loop import Trainer

    def trainer(sps, name="run", **kw):
        return Trainer(build_training(toy_model(), config=quick_config(epochs=1, checkpoint_iters=1, **kw),
                       train_batches=lambda e, s=0: toy_batches(e, s, n_batches=3), steps_per_epoch=3,
                       work_dir=tmp_path / name, samples_per_step=sps))

    t = trainer(2)
    t.global_step, t.epoch = 1, 0
    t._save_mid_epoch(0, 1)  # one step of 2 samples done
    for sps, batch in ((1, 2), (2, 1), (3, 0)):
        r = trainer(sps, name=f"r{sps}")
        r.resume(tmp_path / "run" / "checkpoints" / "last.pth")
        assert r.resume_batch == batch
    assert "2 sample(s) before it are trained again" in (tmp_path / "r3" / "train.log").read_text()
