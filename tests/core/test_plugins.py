"""Plugin discovery through real entry points: duplicates, failures, disabling, strict mode."""

from __future__ import annotations

import pytest
from plugin_factory import make_dist

from zelda_core import PluginError, RecipeError
from zelda_core._plugins import get_plugin_manager, reset_plugin_manager
from zelda_core._registry import build, get_component

GOOD = """
    from zelda_core import hookimpl

    @hookimpl
    def register_metrics(register):
        register("always_one", "{mod}:One")

    class One:
        def __init__(self, scale: float = 1.0):
            self.scale = scale
"""


@pytest.fixture
def plugin_env(tmp_path, monkeypatch):
    """A sys.path entry for extra distributions; the manager is rebuilt around each test."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("ZELDA_DISABLE_PLUGINS", raising=False)
    reset_plugin_manager()
    yield tmp_path
    reset_plugin_manager()


def test_bundled_plugins_are_entry_points(plugin_env):
    pm = get_plugin_manager()
    for name in ("pyav", "decord", "transforms", "datasets", "conv3d", "metrics"):
        assert pm.plugins[f"zelda_{name}"].dist == "zelda-video"
        assert pm.plugins[f"zelda_{name}"].status == "imported"


def test_third_party_component_records_provenance(plugin_env):
    make_dist(plugin_env, "zelda-extra", "1.2.3", {"extra": GOOD.format(mod="zelda_extra_extra")})
    comp = get_component("metrics", "always_one")
    assert (comp.plugin, comp.dist, comp.version) == ("extra", "zelda-extra", "1.2.3")
    assert build("metrics", {"type": "always_one", "scale": 2.0}).scale == 2.0


def test_blocked_plugin_is_never_imported(plugin_env, monkeypatch):
    make_dist(plugin_env, "zelda-boom", "0.1", {"boom": "raise SystemExit('imported!')\n"})
    monkeypatch.setenv("ZELDA_DISABLE_PLUGINS", "boom, other")
    pm = get_plugin_manager()
    assert pm.plugins["boom"].status == "disabled"
    assert pm.plugins["zelda_pyav"].status == "imported"


def test_disabled_by_distribution_name(plugin_env, monkeypatch):
    make_dist(plugin_env, "zelda-extra", "1.0", {"extra": GOOD.format(mod="zelda_extra_extra")})
    monkeypatch.setenv("ZELDA_DISABLE_PLUGINS", "zelda-extra")
    assert get_plugin_manager().plugins["extra"].status == "disabled"
    with pytest.raises(RecipeError, match="unknown metric type 'always_one'"):
        get_component("metrics", "always_one")


def test_failing_plugin_reported_others_keep_working(plugin_env, monkeypatch):
    make_dist(plugin_env, "zelda-broken", "0.9", {"broken": "import not_a_module_zelda\n"})
    monkeypatch.setenv("ZELDA_STRICT_PLUGINS", "0")
    pm = get_plugin_manager()
    info = pm.plugins["broken"]
    assert info.status == "failed" and info.version == "0.9"
    assert "not_a_module_zelda" in info.error
    assert pm.plugins["zelda_pyav"].status == "imported"
    # an unknown name lists the plugins that failed, since they might have provided it
    with pytest.raises(RecipeError, match=r"failed to load.*broken 0\.9"):
        get_component("metrics", "nope")


def test_failing_plugin_is_an_error_when_strict(plugin_env, monkeypatch):
    make_dist(plugin_env, "zelda-broken", "0.9", {"broken": "import not_a_module_zelda\n"})
    monkeypatch.setenv("ZELDA_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match=r"plugin 'broken' \(zelda-broken 0\.9\) failed to load"):
        get_plugin_manager()


def test_plugin_whose_hook_raises_is_a_failure(plugin_env, monkeypatch):
    code = """
        from zelda_core import hookimpl

        @hookimpl
        def register_models(register):
            raise RuntimeError("hook went wrong")
    """
    make_dist(plugin_env, "zelda-hook", "1.0", {"hook": code})
    monkeypatch.setenv("ZELDA_STRICT_PLUGINS", "0")
    info = get_plugin_manager().plugins["hook"]
    assert info.status == "failed" and "hook went wrong" in info.error


def test_lazy_factory_that_cannot_import_names_the_plugin(plugin_env):
    code = """
        from zelda_core import hookimpl

        @hookimpl
        def register_metrics(register):
            register("ghost", "zelda_ghost_missing:Ghost")
    """
    make_dist(plugin_env, "zelda-ghost", "3.0", {"ghost": code})
    with pytest.raises(RecipeError, match=r"'ghost' of plugin 'ghost' \(zelda-ghost 3\.0\)"):
        build("metrics", {"type": "ghost"})
