"""A metric that does not exist or is NaN: a split with no readable sample is one line
naming the split and its skipped videos (exit 1, no traceback); a NaN metric is shown as
such in log lines, strict JSON in summary.json and the test report, no best checkpoint,
plots and ``zelda test`` unharmed. Real unreadable files, real ``zelda`` subprocesses."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from deploy_helpers import zelda  # noqa: E402
from engine_util import make_dataset, small_recipe  # noqa: E402
from media import make_corrupt  # noqa: E402
from plugin_factory import make_dist  # noqa: E402

SKIP = 'data.on_error="skip"'


def _strict_json(path):
    def refuse(name):
        raise AssertionError(f"{path} holds {name}: not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def _one_line_error(proc) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    errors = [x for x in lines if x.startswith("zelda: error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


@pytest.fixture(scope="module")
def unreadable_val(tmp_path_factory):
    """A run whose val videos are all unreadable: epoch 1 trains, validation finds nothing."""
    tmp = tmp_path_factory.mktemp("unreadable_val")
    root = make_dataset(tmp / "data", n_train=4, n_val=3)
    for i in range(3):
        make_corrupt(root / "val" / f"val{i}.mp4")
    recipe = small_recipe(tmp / "r.toml", root, tmp / "work", epochs=2, test_split=True)
    proc = zelda("run", str(recipe), "--set", SKIP)
    return tmp, recipe, proc


def test_run_with_an_unreadable_val_split_is_one_line(unreadable_val):
    tmp, _, proc = unreadable_val
    line = _one_line_error(proc)
    assert line.startswith("zelda: error: data.val: no sample could be read")
    assert "all 3 of its sample(s) were skipped as unreadable" in line
    assert all(f"val{i}.mp4: not a readable video container" in line for i in range(3))
    # the epoch that trained is kept, and says where
    last = tmp / "work" / "checkpoints" / "last.pth"
    assert last.is_file() and f"epoch 1's training is saved in {last}" in line
    assert not (tmp / "work" / "summary.json").exists()


def test_test_on_an_unreadable_split_is_one_line(unreadable_val):
    tmp, recipe, _ = unreadable_val
    ckpt = tmp / "work" / "checkpoints" / "last.pth"
    for split in ("val", "test"):  # the run's test split reads the same (unreadable) list
        out = tmp / f"{split}.json"
        proc = zelda("test", str(recipe), "--set", SKIP, "-c", str(ckpt), "--split", split, "--out", str(out))
        line = _one_line_error(proc)
        assert line.startswith(f"zelda: error: data.{split}: no sample could be read")
        assert "val0.mp4: not a readable video container" in line
        assert not out.exists()


NAN_METRIC = """
    import math
    from zelda_core import hookimpl

    class Flaky:
        # a metric that has no value here (a plugin's statistic undefined on this split)
        def reset(self): pass
        def update(self, scores, labels): pass
        def compute(self): return {"flaky": math.nan}

    @hookimpl
    def register_metrics(register):
        register("flaky", Flaky)
"""


def test_nan_metric_on_a_partly_readable_split(tmp_path):
    pytest.importorskip("matplotlib")
    make_dist(tmp_path / "site", "zelda-flaky", "1.0", {"flaky": NAN_METRIC})
    root = make_dataset(tmp_path / "data", n_train=4, n_val=3)
    make_corrupt(root / "val" / "val2.mp4")  # partly readable: 2 of 3 val videos
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "work", epochs=2, test_split=True,
                          extra='best_metric = "flaky"')
    text = recipe.read_text().replace("[metrics.accuracy]", '[metrics.flaky]\ntype = "flaky"\n\n[metrics.accuracy]')
    recipe.write_text(text)
    env = {"PYTHONPATH": str(tmp_path / "site"), "ZELDA_PLOTS": "1"}
    proc = zelda("run", str(recipe), "--set", SKIP, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "val flaky nan  top1 " in proc.stdout and "[best flaky n/a]" in proc.stdout
    assert "no best checkpoint (flaky was never a number)" in proc.stdout
    work = tmp_path / "work"
    summary = _strict_json(work / "summary.json")
    assert summary["val"]["flaky"] == "nan" and summary["val"]["samples"] == 2.0
    assert summary["best_value"] is None and summary["best_checkpoint"] is None
    assert summary["test"]["flaky"] == "nan"  # the run tested last.pth
    assert not (work / "checkpoints" / "best.pth").exists()
    assert _strict_json(work / "test_metrics.json")["metrics"]["flaky"] == "nan"
    vals = [json.loads(x) for x in (work / "metrics.jsonl").read_text().splitlines()]
    assert [r["flaky"] for r in vals if r["type"] == "val"] == ["nan", "nan"]
    assert (work / "plots" / "val_metrics.png").is_file()  # the finite metrics still plot
    # zelda test shows the NaN and writes strict JSON
    out = tmp_path / "m.json"
    proc = zelda("test", str(recipe), "--set", SKIP, "-c", str(work / "checkpoints" / "last.pth"),
                 "--split", "val", "--out", str(out), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "flaky                    nan" in proc.stdout and "val: 2 videos" in proc.stdout
    assert _strict_json(out)["metrics"]["flaky"] == "nan"
