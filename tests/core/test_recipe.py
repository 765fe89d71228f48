"""TOML recipes: extends, --set, syntax errors, resolved.toml round trip."""

from __future__ import annotations

import sys

import pytest

from zelda_core import RecipeError
from zelda_core._recipe import load_recipe, write_resolved

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

BASE = """
seed = 1
[data]
root = "data/a"
batch_size = 2
[data.train]
type = "video_list"
pipeline = [{type = "a"}, {type = "b"}]
[train]
epochs = 10
optimizer = {type = "Adam", lr = 0.01}
"""


def write(path, text):
    path.write_text(text)
    return path


def test_extends_deep_merges_and_replaces_lists(tmp_path):
    write(tmp_path / "base.toml", BASE)
    (tmp_path / "sub").mkdir()
    child = write(tmp_path / "sub" / "child.toml",
                  'extends = "../base.toml"\n[data.train]\npipeline = [{type = "c"}]\n'
                  '[train.optimizer]\nlr = 0.1\n')
    data = load_recipe(child).data
    assert data["data"]["train"] == {"type": "video_list", "pipeline": [{"type": "c"}]}
    assert data["train"]["optimizer"] == {"type": "Adam", "lr": 0.1}
    assert data["train"]["epochs"] == 10 and data["data"]["root"] == "data/a"
    assert "extends" not in data


def test_extends_list_later_wins(tmp_path):
    write(tmp_path / "a.toml", "x = 1\ny = 1\n")
    write(tmp_path / "b.toml", "y = 2\n")
    r = write(tmp_path / "r.toml", 'extends = ["a.toml", "b.toml"]\n')
    assert load_recipe(r).data == {"x": 1, "y": 2}


def test_extends_cycle_is_an_error(tmp_path):
    write(tmp_path / "a.toml", 'extends = "b.toml"\n')
    write(tmp_path / "b.toml", 'extends = "a.toml"\n')
    with pytest.raises(RecipeError, match=r"'extends' cycle: .*a\.toml -> .*b\.toml -> .*a\.toml"):
        load_recipe(tmp_path / "a.toml")


def test_extends_missing_parent(tmp_path):
    r = write(tmp_path / "r.toml", 'extends = "nope.toml"\n')
    with pytest.raises(RecipeError, match=r"extends 'nope.toml', but .*nope.toml does not exist"):
        load_recipe(r)


def test_set_overrides_parse_toml_values(tmp_path):
    r = write(tmp_path / "r.toml", BASE)
    data = load_recipe(r, [
        "data.root=../shared/x y",       # not TOML: kept as a string
        "data.batch_size=8",
        "train.optimizer.lr=1e-3",
        "data.train.pipeline.1.type=\"z\"",
        "train.new.flag=true",
        "data.workers=[1, 2]",
    ]).data
    assert data["data"]["root"] == "../shared/x y"
    assert data["data"]["batch_size"] == 8
    assert data["train"]["optimizer"]["lr"] == 1e-3
    assert data["data"]["train"]["pipeline"][1] == {"type": "z"}
    assert data["train"]["new"] == {"flag": True}
    assert data["data"]["workers"] == [1, 2]


@pytest.mark.parametrize("override, message", [
    ("noequals", "expects KEY=VALUE"),
    ("a..b=1", "expects KEY=VALUE"),
    ("seed.x=1", "'seed' is 1, not a table"),
    ("data.train.pipeline.7.type=1", "not an index of a list of 2 items"),
])
def test_bad_overrides(tmp_path, override, message):
    r = write(tmp_path / "r.toml", BASE)
    with pytest.raises(RecipeError, match=message):
        load_recipe(r, [override])


def test_syntax_error_shows_file_line_column(tmp_path):
    r = write(tmp_path / "r.toml", "seed = 1\n[data]\nroot = \"x\"\nbatch_size = = 2\n")
    with pytest.raises(RecipeError) as err:
        load_recipe(r)
    assert str(err.value).startswith(f"{r}:4:")
    assert "batch_size = = 2" in str(err.value)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "missing.toml")
    with pytest.raises(RecipeError, match="is a directory"):
        load_recipe(tmp_path)
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(RecipeError, match="bin.toml:1: recipe file is not UTF-8 text"):
        load_recipe(bad)


def test_recipe_is_data_never_code(tmp_path):
    r = write(tmp_path / "r.toml", 'x = "__import__(\'os\').system(\'false\')"\n')
    assert load_recipe(r).data["x"].startswith("__import__")


def test_resolved_round_trip(tmp_path):
    write(tmp_path / "base.toml", BASE)
    r = write(tmp_path / "r.toml", 'extends = "base.toml"\nwork_dir = "w"\n')
    recipe = load_recipe(r, ["data.batch_size=4"])
    path = write_resolved(recipe, tmp_path / "work", seed=7)
    raw = tomllib.loads(path.read_text())
    assert raw["meta"]["seed"] == 7
    assert raw["meta"]["versions"]["zelda"] and "torch" in raw["meta"]["versions"]
    assert "zelda_pyav" in raw["meta"]["versions"]["plugins"]
    again = load_recipe(path)
    assert again.data == {**recipe.data, "seed": 7}
    # and resolving again changes nothing
    path2 = write_resolved(again, tmp_path / "work2", seed=7)
    assert load_recipe(path2).data == again.data
