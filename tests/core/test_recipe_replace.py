"""Replacing a table when extending a recipe: ``_replace_ = true`` (MMEngine's ``_delete_``),
marked by ``recipe show``; without it a type change fails with a hint that names it."""

from __future__ import annotations

import pytest
import tomllib
from media import make_video

from zelda_core import RecipeError
from zelda_core._data import build_dataset
from zelda_core._recipe import load_recipe
from zelda_core._schema import validate_recipe

pytestmark = pytest.mark.decoder_independent

PIPE = ('[{ type = "segment_sample", clip_len = 2 }, { type = "decode" }, '
        '{ type = "resize", size = [16, 16] }, { type = "format_shape" }, { type = "pack" }]')

PARENT = """
seed = 0
[data]
root = "@ROOT@"
[data.train]
type = "video_list"
ann_file = "train.txt"
prefix = "train"
label_map = "label_map.txt"
pipeline = @PIPE@
[model]
type = "recognizer"
[model.preprocessor]
type = "normalize"
[model.backbone]
type = "conv3d_tiny"
[model.head]
type = "cls_head"
[train]
epochs = 1
optimizer = { type = "SGD", lr = 0.01 }
"""
PARENT = PARENT.replace("@PIPE@", PIPE)

CHILD = """
extends = "parent.toml"
[data.train]
@MARKER@type = "video_folder"
prefix = "clips"
pipeline = @PIPE@
""".replace("@PIPE@", PIPE)


def write(tmp_path, marker="_replace_ = true\n"):
    (tmp_path / "parent.toml").write_text(PARENT.replace("@ROOT@", str(tmp_path)))
    child = tmp_path / "child.toml"
    child.write_text(CHILD.replace("@MARKER@", marker))
    return child


def test_a_marked_table_replaces_the_parents_whole(tmp_path):
    for name in ("walk", "run"):
        make_video(tmp_path / "clips" / name / "a.mp4", frames=4)
    recipe = load_recipe(write(tmp_path))
    train = recipe.data["data"]["train"]
    assert set(train) == {"type", "prefix", "pipeline"}  # no ann_file, label_map, nor the marker
    assert recipe.data["data"]["root"] == str(tmp_path)  # the rest still merges
    assert recipe.replaced == [f"data.train (_replace_ = true in {tmp_path / 'child.toml'})"]
    validate_recipe(recipe)
    assert build_dataset(recipe.data, "train").classes == ["run", "walk"]


def test_without_the_marker_the_error_says_how_to_replace(tmp_path):
    recipe = load_recipe(write(tmp_path, marker=""))
    with pytest.raises(RecipeError) as info:
        validate_recipe(recipe)
    msg = str(info.value)
    assert "unknown parameter 'ann_file'" in msg and "add _replace_ = true to it" in msg


def test_recipe_show_marks_the_replaced_table(tmp_path, capsys):
    from zelda_core._cli.main import main

    child = write(tmp_path)
    assert main(["recipe", "show", str(child)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# replaced whole: data.train (_replace_ = true in {child})\n")
    assert "_replace_" not in out.split("\n", 1)[1]
    assert "ann_file" not in tomllib.loads(out)["data"]["train"]  # the shown recipe is the one run


def test_marker_values_and_chains(tmp_path):
    (tmp_path / "parent.toml").write_text(PARENT.replace("@ROOT@", str(tmp_path)))
    child = tmp_path / "child.toml"
    child.write_text(CHILD.replace("@MARKER@", '_replace_ = "yes"\n'))
    with pytest.raises(RecipeError, match=r"child.toml, key 'data.train._replace_': _replace_ must be true"):
        load_recipe(child)
    child.write_text(CHILD.replace("@MARKER@", "_replace_ = false\n"))  # false: an ordinary merge
    assert load_recipe(child).data["data"]["train"]["ann_file"] == "train.txt"
    child.write_text(CHILD.replace("@MARKER@", "_replace_ = true\n"))
    grandchild = tmp_path / "grandchild.toml"  # merges over the child's replacement as usual
    grandchild.write_text('extends = "child.toml"\n[data.train]\nprefix = "other"\n'
                          '[model.head]\n_replace_ = true\ntype = "cls_head"\ndropout = 0.1\n')
    recipe = load_recipe(grandchild)
    assert set(recipe.data["data"]["train"]) == {"type", "prefix", "pipeline"}
    assert recipe.data["data"]["train"]["prefix"] == "other"
    assert recipe.data["model"]["head"] == {"type": "cls_head", "dropout": 0.1}
    assert [r.split(" ")[0] for r in recipe.replaced] == ["data.train", "model.head"]
    lone = tmp_path / "lone.toml"  # nothing to replace: the marker is dropped
    lone.write_text('[model]\n_replace_ = true\ntype = "recognizer"\n')
    assert load_recipe(lone).data == {"model": {"type": "recognizer"}}
