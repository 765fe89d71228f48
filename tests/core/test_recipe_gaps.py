"""``zelda recipe check`` rejects everything ``zelda run`` would, with one message each."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from engine_util import make_dataset, small_recipe  # noqa: E402

from zelda_core._cli.main import main  # noqa: E402


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gaps")
    return small_recipe(tmp / "r.toml", make_dataset(tmp / "data", n_train=2, n_val=1), tmp / "work")


CASES = [
    ("data.batch_size=0", "data.batch_size': must be >= 1"),
    ("data.workers=-1", "data.workers': must be >= 0"),
    ("data.train.pipeline.0.clip_len=0", "clip_len must be a positive integer"),
    ("data.train.pipeline.3.crop_size=-3", "crop_size must be positive"),
    ("data.train.num_classes=0", "data.train.num_classes': must be >= 1"),
    ("model.head.num_classes=0", "model.head.num_classes': must be >= 1"),
    ('data.train.pipeline="x"', "data.train.pipeline': expects a list of transform tables"),
    ("data.train.pipeline.2.size=-5", "resize size must be an int short side"),
    ("data.train.pipeline.2.size=100000", "resize size must be at most 8192 pixels"),
    ("data.train.pipeline.3.crop_size=[100000, 2]", "crop_size must be at most 8192"),
    ("data.batchsize=2", "did you mean 'batch_size'?"),
    ('data.on_eror="skip"', "did you mean 'on_error'?"),
    ("seed=inf", "key 'seed': expects an integer in [0, 2**63), got float inf"),
    ('seed="abc"', "key 'seed': expects an integer in [0, 2**63), got str 'abc'"),
    ("seed=100000000000000000000000000", "got int 100000000000000000000000000"),
    ("seed=1.5", "got float 1.5"),
    ("seed=true", "got bool True"),
    ("seed=-1", "got int -1"),
    ("data.train.pipeline.0.clip_len=200000", "200000 frames per sample, over the limit of 4096"),
]


@pytest.mark.parametrize(("override", "message"), CASES)
def test_check_and_run_reject_the_same(recipe, override, message, capsys):
    for command in (["recipe", "check"], ["run"]):
        assert main([*command, str(recipe), "--set", override]) == 1, (command, override)
        cap = capsys.readouterr()
        assert message in cap.err, (command, cap.err)
        assert "Traceback" not in cap.err
    assert not (recipe.parent / "work").exists()  # run stopped before anything was written


def test_empty_and_deep_recipes(tmp_path, capsys):
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    assert main(["recipe", "check", str(empty)]) == 1
    assert "the recipe is empty" in capsys.readouterr().err
    deep = tmp_path / "deep.toml"
    deep.write_text("seed = 0\nx = " + "[" * 3000 + "]" * 3000 + "\n")
    assert main(["recipe", "check", str(deep)]) == 1
    err = capsys.readouterr().err
    assert "nested too deeply" in err and "Traceback" not in err and len(err.splitlines()) <= 3
    deep.write_text("seed = 0\nx = " + "[" * 100 + "]" * 100 + "\n")
    assert main(["recipe", "check", str(deep)]) == 1
    assert "nested more than 32 levels deep" in capsys.readouterr().err
    assert main(["recipe", "check", str(empty), "--set", "x=" + "[" * 3000 + "]" * 3000]) == 1
    assert "nested too deeply" in capsys.readouterr().err
