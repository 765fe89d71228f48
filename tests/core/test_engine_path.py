"""A recipe's path through the engine, measured on a real one-step ``run_training``
(``helpers/engine_path.py``): the run is built in ``assemble`` in dependency order, the
Trainer receives it built, and the path does not bounce between modules."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from engine_path import stays, summary, trace, trace_run, until  # noqa: E402
from engine_util import quick_config, toy_batches, toy_model  # noqa: E402


@pytest.fixture(scope="module")
def calls(tmp_path_factory):
    return trace_run(tmp_path_factory.mktemp("path"))


def test_the_build_runs_in_dependency_order_before_the_first_batch(calls):
    build = until(calls, "train_epoch")
    path = stays(build)
    # first entries, in order: config, batch transforms, process group, data, work dir,
    # model, loggers, logger, device, fine-tuning, optimizer, then the loop
    firsts = list(dict.fromkeys(path))
    assert firsts == ["train", "assemble", "config", "targets", "distributed", "download", "workdir",
                      "build", "loggers", "log", "device", "finetune", "optim", "loop"], path
    counts = summary(path)["entered"]
    # distributed: the process group, the barrier after the download and the work dir, the
    # DDP wrapper. The work dir is entered once (guard, check, lock, tidying); every other
    # module at most twice. A new step belongs in assemble, in
    # dependency order: raise these bounds only for a reason you can write here.
    assert counts.pop("distributed") <= 3 and counts.pop("workdir") == 1, path
    assert max(counts.values()) <= 2, path
    assert summary(path)["stays"] <= 20, path
    # the Trainer is given its parts: its constructor calls into no other module
    inside = [c for c in calls if c[0].endswith(".loop") and c[1] == "__init__"]
    assert len(inside) == 1
    start = calls.index(inside[0])
    after = calls[start + 1:]
    nxt = next(i for i, c in enumerate(after) if c[2] and c[0].endswith(".loop"))  # fit
    assert not [c for c in after[:nxt] if c[2]], after[:nxt]


def test_the_path_to_the_first_metric_enters_train_assemble_loop_evaluate_once_each(calls):
    path = stays(calls)
    s = summary(path)
    assert s["stays"] <= 28 and s["returns"] <= 13, path
    # the orchestrating modules in one direction, once each: train -> assemble -> loop -> evaluate
    order = [m for m in path if m in ("train", "assemble", "loop", "evaluate")]
    assert order == ["train", "assemble", "loop", "evaluate"], path
    entered = dict(s["entered"])
    # the services the loop calls per use: distributed (the loss module DDP wraps, the
    # epoch's end: skipped samples gathered, buffers synchronized), log (the lines fit
    # starts with, each step's and each epoch's record), finetune (the lines fit logs after
    # a resume, each epoch's freezing), targets (each batch's rows; before the loop: the
    # batch transforms' values checked before the work dir is touched, the build once the
    # classes are known)
    assert entered.pop("distributed") <= 5 and entered.pop("log") <= 4, path
    assert entered.pop("finetune") <= 3 and entered.pop("targets") <= 3, path
    assert max(entered.values()) <= 2, path


@pytest.mark.decoder_independent
def test_the_training_set_up_calls_each_service_once_in_dependency_order(tmp_path):
    """With its optional steps on (gradient checkpointing, freezing, a scheduler, warmup,
    the weight average): device, then fine-tuning, optimizer, weight average, DDP wrapper."""
    from zelda_core._engine.assemble import build_training
    from zelda_core._engine.distributed import Dist
    from zelda_core._engine.log import RankLogger

    class Checkpointable(type(toy_model())):
        enabled = False

        def enable_gradient_checkpointing(self):
            self.enabled = True

    model = toy_model()
    model.__class__ = Checkpointable
    config = quick_config(gradient_checkpointing=True, ema={"decay": 0.9}, finetune={"freeze": ["*"]},
                          scheduler={"type": "StepLR", "step_size": 1}, warmup={"iters": 2})
    logger, ctx = RankLogger(1), Dist()
    calls = trace(lambda: build_training(model, config=config, train_batches=toy_batches, steps_per_epoch=2,
                                         work_dir=tmp_path, logger=logger, ctx=ctx), start="build_training")
    assert model.enabled
    assert stays(calls) == ["assemble", "device", "finetune", "optim", "ema", "distributed"], stays(calls)
