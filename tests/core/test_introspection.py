"""``zelda components`` and ``zelda plugins show``: parameters with types and defaults,
docstrings and help text, usable vs unusable."""

from __future__ import annotations

import json
import sys

import pytest
from plugin_factory import make_dist
from zelda_transforms import TRANSFORMS

from zelda_core._cli.main import main
from zelda_core._plugins import reset_plugin_manager

EXTRA = """
    from typing import Literal
    from zelda_core import hookimpl

    class Jitter:
        '''Shift brightness by a random amount.

        Longer explanation.'''
        def __init__(self, amount: float = 0.1, mode: Literal["add", "mul"] = "add",
                     taps: list[int] = (1, 2)):
            pass

    @hookimpl
    def register_transforms(register):
        register("jitter", Jitter, help="random brightness")

    @hookimpl
    def register_decoders(register):
        register("needs_lib", "zelda_extra_missing_backend:Reader",
                 help="a decoder on a library that is not installed")
"""


@pytest.fixture
def run(tmp_path, monkeypatch, capsys):
    make_dist(tmp_path, "zelda-extra", "2.1", {"extra": EXTRA})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ZELDA_STRICT_PLUGINS", "0")

    def zelda(*args):
        reset_plugin_manager()
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        zelda.err = captured.err
        return code, captured.out

    yield zelda
    reset_plugin_manager()
    sys.modules.pop("zelda_extra_extra", None)


def test_components_json_lists_every_bundled_transform(run):
    code, out = run("components", "transforms", "--json")
    assert code == 0
    entries = {e["name"]: e for e in json.loads(out)}
    assert set(TRANSFORMS) <= set(entries)
    resize = entries["resize"]
    assert resize["plugin"] == "zelda_transforms" and resize["distribution"] == "zelda-video"
    assert resize["usable"] and resize["doc"]
    flip = {p["name"]: p for p in entries["flip"]["params"]}
    assert flip["flip_ratio"] == {"name": "flip_ratio", "type": "float", "required": False,
                                  "default": 0.5, "injected": False}
    assert flip["direction"]["type"] == "'horizontal' or 'vertical'"
    jitter = entries["jitter"]
    assert jitter["help"] == "random brightness"
    assert jitter["doc"].startswith("Shift brightness by a random amount.")
    assert [(p["name"], p["type"], p["default"]) for p in jitter["params"]] == [
        ("amount", "float", 0.1), ("mode", "'add' or 'mul'", "add"), ("taps", "list[int]", [1, 2])]


def test_components_text_and_singular_kind(run):
    code, out = run("components", "transform")
    assert code == 0
    assert "transform jitter  [extra, zelda-extra 2.1]" in out
    assert "    random brightness\n    amount: float = 0.1\n    mode: 'add' or 'mul' = \"add\"" in out


def test_unusable_component_is_reported_with_the_reason(run):
    code, out = run("components", "decoders", "--json")
    entries = {e["name"]: e for e in json.loads(out)}
    assert entries["pyav"]["usable"] and entries["pyav"]["params"][0] == {
        "name": "path", "type": "str", "required": True, "default": None, "injected": True}
    assert not entries["needs_lib"]["usable"]
    assert "zelda_extra_missing_backend" in entries["needs_lib"]["reason"]


def test_plugins_show_gives_help_and_doc(run):
    code, out = run("plugins", "show", "zelda-extra")
    assert code == 0
    assert out.startswith("extra (zelda-extra 2.1): imported")
    assert "  transform jitter  (zelda_extra_extra:Jitter)\n      random brightness" in out
    assert "  decoder needs_lib  (zelda_extra_missing_backend:Reader)" in out
    assert "unusable: its module 'zelda_extra_missing_backend' does not exist" in out
    code, out = run("plugins", "show", "zelda_metrics", "--json")
    (shown,) = json.loads(out)
    helps = {c["name"]: c["help"] for c in shown["components"]}
    assert helps["top_k_accuracy"].startswith("fraction of samples")


def test_unknown_names(run):
    assert run("plugins", "show", "nope")[0] == 1
    assert "no plugin or distribution named 'nope'" in run.err
    assert run("components", "gizmos")[0] == 1
