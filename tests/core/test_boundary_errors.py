"""Errors at the plugin boundary name the component, its plugin and the recipe key:
factory exceptions, non-callable factories, transforms that return no sample, model parts
whose sizes disagree, parameter types and typos."""

from __future__ import annotations

import sys

import pytest
import torch
from plugin_factory import make_dist

from zelda_core import PluginError, RecipeError
from zelda_core._pipeline import Pipeline
from zelda_core._plugins import reset_plugin_manager
from zelda_core._recipe import Recipe
from zelda_core._registry import build, check
from zelda_core._schema import validate_recipe

PLUGIN = """
    from typing import Literal
    from zelda_core import hookimpl

    class Picky:
        def __init__(self, size: int = 1):
            if size > 10:
                raise ValueError(f"size must be <= 10, got {size}")
            if size == 7:
                raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")
            self.size = size
        def __call__(self, sample):
            return sample

    class Forgetful:
        def __call__(self, sample):
            sample["seen"] = True  # and forgets to return it

    class Choosy:
        def __init__(self, mode: Literal["center", "random"] = "center",
                     level: Literal[1, 2] = 1, names: list[str] = ("a",),
                     pair: tuple[int, int] = (1, 2)):
            self.level = level

    NOT_A_FACTORY = 3

    @hookimpl
    def register_transforms(register):
        register("picky", Picky)
        register("forgetful", Forgetful)
        register("choosy", Choosy)
        register("constant", "{mod}:NOT_A_FACTORY")
"""


@pytest.fixture(autouse=True)
def toy(tmp_path, monkeypatch):
    make_dist(tmp_path, "zelda-edge", "0.4", {"edge": PLUGIN.replace("{mod}", "zelda_edge_edge")})
    monkeypatch.syspath_prepend(str(tmp_path))
    reset_plugin_manager()
    yield
    reset_plugin_manager()
    sys.modules.pop("zelda_edge_edge", None)


def test_value_error_is_the_recipes_problem():
    with pytest.raises(RecipeError, match=r"r.toml, key 'k': size must be <= 10, got 11"):
        build("transforms", {"type": "picky", "size": 11}, key="k", file="r.toml")


def test_any_other_factory_exception_names_component_plugin_and_key():
    with pytest.raises(PluginError) as err:
        build("transforms", {"type": "picky", "size": 7}, key="data.train.pipeline[2]",
              file="r.toml")
    msg = str(err.value)
    assert msg.startswith("r.toml, key 'data.train.pipeline[2]': building the transform "
                          "'picky' of plugin 'edge' (zelda-edge 0.4) failed with TypeError")
    assert "--debug" in msg and isinstance(err.value.__cause__, TypeError)


def test_non_callable_factory_is_caught_by_recipe_check():
    (err,) = check("transforms", {"type": "constant"}, key="data.train.pipeline[0]")
    assert "key 'data.train.pipeline[0]'" in str(err)
    assert "of plugin 'edge' (zelda-edge 0.4) is not usable: its factory is int 3" in str(err)
    recipe = Recipe({"data": {"train": {"type": "video_list", "ann_file": "a.txt",
                                        "pipeline": [{"type": "constant"}]}}})
    with pytest.raises(RecipeError, match="not a class or function"):
        validate_recipe(recipe)


def test_non_callable_registered_directly_fails_its_plugin(tmp_path, monkeypatch):
    code = """
        from zelda_core import hookimpl

        @hookimpl
        def register_metrics(register):
            register("three", 3)
    """
    make_dist(tmp_path / "more", "zelda-three", "1.0", {"three": code})
    monkeypatch.syspath_prepend(str(tmp_path / "more"))
    monkeypatch.setenv("ZELDA_STRICT_PLUGINS", "0")
    reset_plugin_manager()
    from zelda_core._plugins import get_plugin_manager

    info = get_plugin_manager().plugins["three"]
    assert info.status == "failed" and "the factory of metric 'three' is not callable" in info.error


def test_transform_returning_no_sample_is_named():
    pipeline = Pipeline.from_config([{"type": "picky"}, {"type": "forgetful"},
                                     {"type": "picky"}])

    class Reader:
        closed = False

        def close(self):
            self.closed = True

    reader = Reader()
    with pytest.raises(PluginError) as err:
        pipeline({"reader": reader})
    assert "transform 'forgetful' returned NoneType None instead of the sample dict" in \
        str(err.value)
    assert reader.closed  # the file is released all the same
    with pytest.raises(PluginError, match="transform 'forgetful'"):
        pipeline({}, timings={})


def test_type_messages_list_choices_and_element_types():
    def problems(**params):
        return [str(e) for e in check("transforms", {"type": "choosy", **params}, key="k")]

    assert "parameter 'mode' expects 'center' or 'random', got str 'middle'" in \
        problems(mode="middle")[0]
    assert "parameter 'names' expects list[str], got list ['a', 2] (item 1 is int 2)" in \
        problems(names=["a", 2])[0]
    assert "expects tuple[int, int], got list [1, 2, 3] (3 items, expected 2)" in \
        problems(pair=[1, 2, 3])[0]
    assert "parameter 'level' expects 1 or 2, got float 2.0" in problems(level=2.0)[0]
    assert "got bool True" in problems(level=True)[0]
    assert problems(level=2) == [] and problems(names=["a", "b"]) == []


def test_parameter_typo_gets_did_you_mean():
    (err,) = check("transforms", {"type": "choosy", "nmes": ["a"]}, key="k")
    assert "unknown parameter 'nmes'; did you mean 'names'?" in str(err)


# -- model parts --------------------------------------------------------------------

def _model(head: dict, backbone: dict | None = None) -> dict:
    return {"type": "recognizer", "preprocessor": {"type": "normalize"},
            "backbone": backbone or {"type": "conv3d_tiny", "channels": [8, 16]},
            "head": {"type": "cls_head", "num_classes": 3, **head}}


def test_head_width_is_taken_from_the_backbone():
    model = build("models", _model({}), key="model")
    assert (model.head.in_channels, model.head.fc.in_features) == (16, 16)
    assert model.predict(torch.zeros(2, 1, 3, 4, 32, 32, dtype=torch.uint8)).shape == (2, 3)


def test_head_width_mismatch_is_an_error_naming_both_sizes():
    with pytest.raises(RecipeError) as err:
        build("models", _model({"in_channels": 128}), key="model", file="r.toml")
    assert str(err.value).startswith(
        "r.toml, key 'model': model.backbone (Conv3dTiny) outputs 16 channels but "
        "model.head.in_channels is 128: set head.in_channels = 16")


def test_width_of_a_backbone_without_out_channels_is_measured(tmp_path, monkeypatch):
    code = """
        import torch
        from zelda_core import hookimpl

        class Flat(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = torch.nn.Conv3d(3, 5, 1)
                self.bn = torch.nn.BatchNorm3d(5)
            def forward(self, x):
                return self.bn(self.conv(x))

        @hookimpl
        def register_models(register):
            register("flat", Flat)
    """
    make_dist(tmp_path / "more", "zelda-flat", "1.0", {"flat": code})
    monkeypatch.syspath_prepend(str(tmp_path / "more"))
    reset_plugin_manager()
    model = build("models", _model({}, {"type": "flat"}), key="model")
    assert model.head.in_channels == 5
    assert int(model.backbone.bn.num_batches_tracked) == 0  # the dry run left no trace
    assert model.backbone.training
    with pytest.raises(RecipeError, match=r"outputs 5 channels but model.head.in_channels is 4"):
        build("models", _model({"in_channels": 4}, {"type": "flat"}), key="model")


def test_a_decoder_factory_exception_is_a_decode_error_naming_the_plugin(tmp_path, monkeypatch):
    code = """
        from zelda_core import hookimpl

        def reader(path, *, threads: int = 1):
            raise OSError("backend exploded")

        @hookimpl
        def register_decoders(register):
            register("exploding", reader)
    """
    make_dist(tmp_path / "more", "zelda-boom", "1.0", {"boom": code})
    monkeypatch.syspath_prepend(str(tmp_path / "more"))
    reset_plugin_manager()
    from zelda_core import DecodeError
    from zelda_core.api import open_video

    with pytest.raises(DecodeError) as err:  # one bad video stays skippable (on_error)
        open_video(str(tmp_path / "v.mp4"), "exploding")
    assert str(err.value) == (f"cannot decode {tmp_path / 'v.mp4'}: the decoder 'exploding' of "
                              "plugin 'boom' (zelda-boom 1.0) failed with OSError: backend "
                              "exploded")


def test_transform_contract_error_is_not_blamed_on_the_video(tmp_path):
    from pipeline_helpers import make_dataset

    from zelda_core import build as build_component

    root = tmp_path / "data"
    make_dataset(root, {"a.mp4": 0, "b.mp4": 1}, frames=8)
    for on_error in ("raise", "skip"):
        ds = build_component("datasets", {"type": "video_list", "ann_file": "ann.txt",
                                          "prefix": "videos"},
                             root=str(root), decoder="pyav", on_error=on_error,
                             pipeline=Pipeline.from_config([{"type": "forgetful"}]))
        with pytest.raises(PluginError, match="transform 'forgetful' returned NoneType"):
            ds[0]
