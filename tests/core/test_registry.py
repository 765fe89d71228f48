"""Recipe tables checked against factory signatures: types, names, parameters, nesting."""

from __future__ import annotations

import pytest
from plugin_factory import make_dist

from zelda_core import RecipeError
from zelda_core._plugins import reset_plugin_manager
from zelda_core._recipe import load_recipe
from zelda_core._registry import build, check
from zelda_core._schema import validate_recipe

PLUGIN = """
    from typing import Literal, Optional, Sequence
    from zelda_core import hookimpl

    class Crop:
        def __init__(self, size: int, mode: Literal["center", "random"] = "center",
                     scale: float = 1.0, flip: bool = False, ks: Sequence[int] = (1, 5),
                     note: Optional[str] = None):
            self.size, self.mode, self.scale, self.flip, self.ks = size, mode, scale, flip, ks

    class Net:
        def __init__(self, backbone, head, width: int = 8):
            self.backbone, self.head, self.width = backbone, head, width

    class Part:
        def __init__(self, depth: int = 1):
            self.depth = depth

    def loose(**kwargs):
        return kwargs

    @hookimpl
    def register_transforms(register):
        register("toy_crop", Crop)
        register("toy_loose", loose)

    @hookimpl
    def register_models(register):
        register("toy_net", Net)
        register("toy_part", Part)
"""


@pytest.fixture(autouse=True)
def toy_plugin(tmp_path, monkeypatch):
    make_dist(tmp_path / "site", "zelda-toy", "1.0", {"toy": PLUGIN})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    reset_plugin_manager()
    yield
    reset_plugin_manager()


def messages(errors):
    return [str(e) for e in errors]


def test_build_with_params():
    crop = build("transforms", {"type": "toy_crop", "size": 224, "mode": "random"})
    assert (crop.size, crop.mode) == (224, "random")


def test_unknown_type_suggests_close_names():
    (err,) = check("transforms", {"type": "toy_corp"}, key="data.train.pipeline[3]", file="r.toml")
    msg = str(err)
    assert msg.startswith("r.toml, key 'data.train.pipeline[3]'")
    assert "unknown transform type 'toy_corp'" in msg and "Did you mean 'toy_crop'" in msg


def test_unknown_parameter_lists_accepted_ones():
    (err,) = check("transforms", {"type": "toy_crop", "size": 3, "sise": 3}, key="k")
    assert "unknown parameter 'sise'" in str(err)
    assert "size, mode='center'" in str(err)


def test_missing_parameter():
    (err,) = check("transforms", {"type": "toy_crop"}, key="k")
    assert "missing parameter 'size'" in str(err)


@pytest.mark.parametrize("params, expected", [
    ({"size": "224"}, "parameter 'size' expects int, got str '224'"),
    ({"size": True}, "parameter 'size' expects int, got bool True"),
    ({"size": 2, "mode": "sideways"}, "parameter 'mode' expects"),
    ({"size": 2, "flip": 1}, "parameter 'flip' expects bool"),
    ({"size": 2, "ks": [1, "5"]}, "parameter 'ks' expects"),
    ({"size": 2, "note": 3}, "parameter 'note' expects"),
])
def test_wrong_value_type(params, expected):
    (err,) = check("transforms", {"type": "toy_crop", **params}, key="k")
    assert expected in str(err)


def test_values_that_fit_pass():
    assert check("transforms", {"type": "toy_crop", "size": 2, "scale": 1, "ks": [1],
                                "note": None}) == []
    assert check("transforms", {"type": "toy_loose", "anything": [1, 2]}) == []


def test_table_without_type():
    (err,) = check("transforms", {"size": 3}, key="data.val.pipeline[0]")
    assert "has no 'type'" in str(err) and "toy_crop" in str(err)


def test_nested_model_tables_are_checked_and_built():
    table = {"type": "toy_net", "backbone": {"type": "toy_part", "depth": 3}, "head": {"type": "toy_part"}}
    net = build("models", table, key="model")
    assert net.backbone.depth == 3 and net.head.depth == 1
    (err,) = check("models", {"type": "toy_net", "backbone": {"type": "toy_prat"}, "head": {"type": "toy_part"}},
                   key="model")
    assert "key 'model.backbone'" in str(err) and "Did you mean 'toy_part'" in str(err)


def test_validate_recipe_reports_every_problem(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text(
        '[model]\ntype = "toy_net"\nwidht = 3\n[model.backbone]\ntype = "toy_part"\ndepth = "deep"\n'
        '[model.head]\ntype = "toy_part"\n[trian]\nepochs = 1\n'
    )
    with pytest.raises(RecipeError) as err:
        validate_recipe(load_recipe(path))
    msg = str(err.value)
    assert "3 problems" in msg
    assert "unknown top-level key 'trian'; did you mean 'train'?" in msg
    assert "key 'model': unknown parameter 'widht'" in msg
    assert "key 'model.backbone': parameter 'depth' expects int" in msg
