"""A top-k whose k is not below the class count is 1.0 for every video: the default ks
leave it out, an asked k is kept and said once (naming ``metrics.<name>.k``), and a
``train.best_metric`` naming a value left out fails before the first epoch. Two classes,
real videos, the engine end to end (run, its test split, ``zelda test``, summary)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from engine_util import make_dataset, small_recipe  # noqa: E402

from zelda_core._cli.main import main  # noqa: E402

pytestmark = pytest.mark.decoder_independent

DEFAULT_K = 'metrics.accuracy={type="top_k_accuracy"}'


@pytest.fixture(scope="module")
def two_classes(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("topk")
    return tmp, make_dataset(tmp / "data", n_train=2, n_val=2)


def run(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def val_records(work):
    lines = (work / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["type"] == "val"]


def test_default_k_leaves_out_a_top_k_that_is_always_one(two_classes, capsys):
    tmp, root = two_classes
    recipe = small_recipe(tmp / "default.toml", root, tmp / "w_default", epochs=1, test_split=True)
    code, out, err = run(capsys, "run", str(recipe), "--set", DEFAULT_K)
    assert code == 0, err
    work = tmp / "w_default"
    summary = json.loads((work / "summary.json").read_text())
    assert "top1" in summary["val"] and "top5" not in summary["val"], summary
    assert summary["best_metric"] == "top1"
    assert all("top5" not in r and "top1" in r for r in val_records(work))
    assert "top5" not in json.loads((work / "test_metrics.json").read_text())["metrics"]
    assert "top5" not in out and "metrics.accuracy.k" not in out + err
    code, out, err = run(capsys, "test", str(recipe), "--set", DEFAULT_K, "--checkpoint",
                         str(work / "checkpoints" / "best.pth"), "--split", "val")
    assert code == 0, err
    assert "top1" in out and "top5" not in out and "warning" not in err, out + err


def test_an_asked_k_not_below_the_class_count_is_kept_and_said_once(two_classes, capsys):
    tmp, root = two_classes
    recipe = small_recipe(tmp / "asked.toml", root, tmp / "w_asked", epochs=2)  # k = [1, 5]
    code, out, err = run(capsys, "run", str(recipe))
    assert code == 0, err
    work = tmp / "w_asked"
    said = [line for line in (work / "train.log").read_text().splitlines() if "metrics.accuracy.k" in line]
    assert len(said) == 1, said
    assert "warning: metrics.accuracy.k = [1, 5]: top5 is 1.0 for every video with 2 classes" in said[0]
    assert [r["top5"] for r in val_records(work)] == [1.0, 1.0]
    code, out, err = run(capsys, "test", str(recipe), "--checkpoint", str(work / "checkpoints" / "best.pth"),
                         "--split", "val")
    assert code == 0, err
    assert err.count("metrics.accuracy.k = [1, 5]") == 1 and "top5" in out, out + err


def test_best_metric_naming_a_left_out_value_fails_before_the_first_epoch(two_classes, capsys):
    tmp, root = two_classes
    recipe = small_recipe(tmp / "best.toml", root, tmp / "w_best", epochs=1)
    sets = ["--set", DEFAULT_K, "--set", 'train.best_metric="top5"']
    for command in (["run"], ["recipe", "check"]):
        code, out, err = run(capsys, *command, str(recipe), *sets)
        assert code == 1 and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1, err
        assert "key 'train.best_metric'" in err and "top1, mean_class_accuracy" in err, err
        assert "2 classes" in err, err
    assert "epoch 1/1" not in out and not (tmp / "w_best" / "checkpoints").exists()
    # asked for, it is there to choose
    code, out, err = run(capsys, "recipe", "check", str(recipe), "--set", 'train.best_metric="top5"')
    assert code == 0, err


LATE = """
    from zelda_core import hookimpl

    class Late:
        \"\"\"Names its value only once it has seen data (before the contract asked it to).\"\"\"

        def reset(self):
            self.n = 0

        def __init__(self):
            self.reset()

        def update(self, scores, labels):
            self.n += len(labels)

        def compute(self):
            return {"late_score": float(self.n)} if self.n else {}

    @hookimpl
    def register_metrics(register):
        register("late", Late)
"""


def test_best_metric_of_a_metric_that_names_its_values_only_after_data_is_named_in_the_error(
        two_classes, capsys, tmp_path, monkeypatch):
    """A metric breaking the clause the early check relies on (compute() names its values
    before any update) is named in the one-line error, before the first epoch."""
    from plugin_factory import make_dist

    from zelda_core._plugins import reset_plugin_manager

    monkeypatch.syspath_prepend(str(make_dist(tmp_path / "site", "zelda-late", "0.1", {"late": LATE})))
    reset_plugin_manager()
    try:
        tmp, root = two_classes
        recipe = small_recipe(tmp / "late.toml", root, tmp_path / "w_late", epochs=1)
        code, out, err = run(capsys, "run", str(recipe), "--set", 'metrics.late={type="late"}',
                             "--set", 'train.best_metric="late_score"')
        assert code == 1 and len(err.strip().splitlines()) == 1, err
        assert "key 'train.best_metric'" in err and "metrics.late named no value before any data" in err, err
        assert "epoch 1/1" not in out
        code, out, err = run(capsys, "run", str(recipe), "--set", 'metrics.late={type="late"}')
        assert code == 0, err  # chosen by nobody, it is computed as any other
        summary = json.loads((tmp_path / "w_late" / "summary.json").read_text())
        assert summary["val"]["late_score"] == 2.0, summary
    finally:
        reset_plugin_manager()
