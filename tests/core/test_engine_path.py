"""A recipe's path through the engine, measured on a real one-step ``run_training``
(``helpers/engine_path.py``): the run is built in ``assemble`` in dependency order, the
Trainer receives it built, and the path does not bounce between modules."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from engine_path import stays, summary, trace_run, until  # noqa: E402


@pytest.fixture(scope="module")
def calls(tmp_path_factory):
    return trace_run(tmp_path_factory.mktemp("path"))


def test_the_build_runs_in_dependency_order_before_the_first_batch(calls):
    build = until(calls, "train_epoch")
    path = stays(build)
    # first entries, in order: config, process group, work dir, data, model, loggers, logger,
    # device, fine-tuning, optimizer, then the loop
    firsts = list(dict.fromkeys(path))
    assert firsts == ["train", "workdir", "assemble", "config", "finetune", "targets", "distributed",
                      "download", "build", "loggers", "log", "device", "optim", "loop"], path
    counts = summary(path)["entered"]
    # the services the build and fit's first lines call in between: distributed (setup, the
    # barrier after the work dir is tidied, the process's GPU, the DDP wrapper), finetune
    # (the [train] check, the build, the lines fit logs after a resume), device (the
    # device, placement, the line fit logs) and workdir (the guard that removes a work dir
    # a failed run left empty, the check and the lock, the tidying); every other module at
    # most twice. A new step belongs in assemble, in dependency order: raise these bounds
    # only for a reason you can write here.
    assert counts.pop("distributed") <= 4 and counts.pop("workdir") <= 3, path
    assert counts.pop("finetune") <= 3 and counts.pop("device") <= 3, path
    # targets (train.label_smoothing/class_weights/batch_transforms): the [train] check,
    # the build, the first batch's rows
    assert counts.pop("targets") <= 3, path
    assert max(counts.values()) <= 2, path
    # 28: the loggers' build (register_loggers) and the target rows (targets)
    assert summary(path)["stays"] <= 28, path
    # the Trainer is given its parts: its constructor calls into no other module
    inside = [c for c in calls if c[0].endswith(".loop") and c[1] == "__init__"]
    assert len(inside) == 1
    start = calls.index(inside[0])
    after = calls[start + 1:]
    nxt = next(i for i, c in enumerate(after) if c[2] and c[0].endswith(".loop"))  # fit
    assert not [c for c in after[:nxt] if c[2]], after[:nxt]


def test_the_path_to_the_first_metric_enters_train_assemble_loop_evaluate_in_turn(calls):
    path = stays(calls)
    s = summary(path)
    assert s["stays"] <= 40 and s["returns"] <= 25, path  # the loggers' build; the target rows per batch
    # the orchestrating modules in one direction: train -> assemble -> loop -> evaluate
    order = [m for m in path if m in ("train", "assemble", "loop", "evaluate")]
    assert order == ["train", "assemble", "assemble", "loop", "evaluate"], path
    assert s["entered"]["loop"] == 1 and s["entered"]["train"] == 1
