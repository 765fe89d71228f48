"""``zelda recipe check`` builds the model with the class count run would give it when
that count can be had without opening a video (the recipe's ``data.train.num_classes``,
else the train split's annotations under a ``data.root`` that is here), else with a
placeholder, and says which in one line. The "videos" here are not videos: the check
must never open one."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from engine_util import small_recipe  # noqa: E402
from plugin_factory import make_dist  # noqa: E402

from zelda_core._cli.main import main  # noqa: E402
from zelda_core._plugins import reset_plugin_manager  # noqa: E402

pytestmark = pytest.mark.decoder_independent

PICKY = """
    from zelda_core import hookimpl

    def picky_head(num_classes: int | None = None, in_channels: int = 128):
        if num_classes > 4:
            raise ValueError(f"its pretrained head has 4 outputs, not {num_classes}")
        from zelda_conv3d.model import ClsHead
        return ClsHead(num_classes, in_channels, 0.0)

    @hookimpl
    def register_models(register):
        register("picky_head", picky_head)
"""
HEAD = 'model.head={type="picky_head"}'


@pytest.fixture
def picky(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(make_dist(tmp_path / "site", "zelda-picky", "0.1", {"picky": PICKY})))
    reset_plugin_manager()
    yield
    reset_plugin_manager()


def data(root, classes: int):
    """An annotation list, a label map of ``classes`` names and files that do not decode."""
    for split in ("train", "val"):
        (root / split).mkdir(parents=True)
        for name in ("a.mp4", "b.mp4"):
            (root / split / name).write_bytes(b"not a video")
        (root / f"kinetics_tiny_{split}_video.txt").write_text("a.mp4 0\nb.mp4 1\n")
    (root / "label_map.txt").write_text("".join(f"class{i}\n" for i in range(classes)))
    return root


def check(capsys, recipe, *sets: str) -> tuple[int, str, str]:
    capsys.readouterr()
    args = ["recipe", "check", str(recipe)]
    for s in sets:
        args += ["--set", s]
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(("classes", "fails"), [(4, False), (5, True)])
def test_the_train_annotations_give_the_count_when_the_data_is_here(tmp_path, picky, capsys, classes, fails):
    root = data(tmp_path / "data", classes)
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "work")
    code, out, err = check(capsys, recipe, HEAD)
    said = [line for line in out.splitlines() if line.startswith("# classes:")]
    assert said == [f"# classes: {classes}, from the train split's annotations under {root}"], out
    if fails:
        assert code == 1 and "key 'model.head'" in err and "4 outputs, not 5" in err, err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    else:
        assert code == 0, err


def test_class_folders_give_the_count(tmp_path, picky, capsys):
    root = tmp_path / "folders"
    for i in range(6):
        (root / "train" / f"c{i}").mkdir(parents=True)
        (root / "train" / f"c{i}" / "x.mp4").write_bytes(b"not a video")
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "work")
    listed = 'type = "video_list"\nann_file = "kinetics_tiny_train_video.txt"\nprefix = "train"\n' \
             'label_map = "label_map.txt"\n'
    assert listed in recipe.read_text()
    recipe.write_text(recipe.read_text().replace(listed, 'type = "video_folder"\nprefix = "train"\n', 1))
    code, out, err = check(capsys, recipe, HEAD)
    assert "# classes: 6, from the train split's annotations" in out, out + err
    assert code == 1 and "4 outputs, not 6" in err, err


def test_the_recipe_count_comes_first_and_the_placeholder_last(tmp_path, picky, capsys):
    recipe = small_recipe(tmp_path / "r.toml", tmp_path / "absent", tmp_path / "work")
    code, out, err = check(capsys, recipe, HEAD)
    assert code == 0, err
    assert "# classes: 2, a placeholder (run takes the count from the data: data.root " in out, out
    assert "is not here)" in out
    code, out, err = check(capsys, recipe, HEAD, "data.train.num_classes=7")
    assert "# classes: 7, the recipe's data.train.num_classes" in out, out
    assert code == 1 and "4 outputs, not 7" in err, err
    root = data(tmp_path / "data", 3)  # unreadable annotations: the placeholder, and why
    (root / "kinetics_tiny_train_video.txt").write_text("a.mp4 zero\n")
    code, out, err = check(capsys, small_recipe(tmp_path / "r2.toml", root, tmp_path / "work"), HEAD)
    assert code == 0, err
    assert "# classes: 2, a placeholder (run takes the count from the data: the train split could not " \
           "be read: " in out and "'zelda data check' lists its problems" in out, out
