"""Every failure a plugin can cause stays that plugin's: reported with its name and
distribution, never a traceback, unrelated commands keep working; strict mode makes each
an error. Conflicts, entry-point clashes and choosing plugins. Real installed
distributions (dist-info + entry points on sys.path), real ``zelda`` subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from plugin_factory import make_dist

from zelda_core import PluginError, RecipeError
from zelda_core._plugins import get_plugin_manager, reset_plugin_manager
from zelda_core._registry import _PROVENANCE, build, get_component

BAD_SIGNATURE = """
    from zelda_core import hookimpl

    @hookimpl
    def register_models(reg):
        reg("never", dict)
"""
UNKNOWN_HOOK = """
    from zelda_core import hookimpl

    @hookimpl
    def register_model(register):
        register("never", dict)
"""
HOOK_RAISES = """
    from zelda_core import hookimpl

    @hookimpl
    def register_metrics(register):
        register("half_registered", dict)
        raise RuntimeError("hook went wrong")
"""
IMPORT_FAILS = "import not_a_module_zelda\n"
UNRESOLVED = """
    from zelda_core import hookimpl

    @hookimpl
    def register_metrics(register):
        register("ghost", "{mod}:NoSuchClass")
        register("needs_dep", "{mod}_heavy:Thing")
"""
HEAVY = "import zelda_missing_dependency_xyz\nclass Thing: pass\n"
FLIP = """
    from zelda_core import hookimpl

    class Flip:
        '''A second flip.'''
        def __init__(self, p: float = 0.5):
            self.p = p
        def __call__(self, sample):
            return sample

    @hookimpl
    def register_transforms(register):
        register("flip", Flip, help="the extras' flip")
"""
METRIC = """
    from zelda_core import hookimpl

    class One:
        def __init__(self, scale: float = 1.0):
            self.scale = scale

    @hookimpl
    def register_metrics(register):
        register("always_one", One)
"""
CASES = {
    "bad_signature": (BAD_SIGNATURE, "register_models"),
    "unknown_hook": (UNKNOWN_HOOK, "unknown hook 'register_model'. Did you mean "
                                   "'register_models'?"),
    "hook_raises": (HOOK_RAISES, "RuntimeError: hook went wrong"),
    "import_fails": (IMPORT_FAILS, "No module named 'not_a_module_zelda'"),
}


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A sys.path entry for extra distributions; the manager is rebuilt around each test."""
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    for var in ("ZELDA_DISABLE_PLUGINS", "ZELDA_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ZELDA_STRICT_PLUGINS", "0")
    modules = set(sys.modules)
    reset_plugin_manager()
    yield path
    reset_plugin_manager()
    _PROVENANCE.clear()
    for name in set(sys.modules) - modules:  # the next test's plugin may reuse a name
        if name.startswith("zelda_") and "." not in name:
            del sys.modules[name]


def zelda(*args, site=None, **env):
    """The real ``zelda`` command in a subprocess (slow under load: used sparingly)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("ZELDA_")}
    full["ZELDA_STRICT_PLUGINS"] = "0"
    if site is not None:
        full["PYTHONPATH"] = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    full.update(env)
    return subprocess.run([sys.executable, "-m", "zelda_core", *args], capture_output=True,
                          text=True, env=full, timeout=120)


@pytest.fixture
def cli(site, monkeypatch, capsys):
    """``zelda`` run in this process (its entry point, ``main``): (returncode, out, err)."""
    from zelda_core._cli.main import main

    def run(*args, **env):
        with monkeypatch.context() as m:
            for k, v in env.items():
                m.setenv(k, v)
            reset_plugin_manager()
            capsys.readouterr()
            code = main(list(args))
            out = capsys.readouterr()
        reset_plugin_manager()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    return run


def recipe(tmp_path, body):
    path = tmp_path / "r.toml"
    path.write_text(body)
    return str(path)


# -- isolation -----------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(CASES))
def test_failure_is_contained_and_attributed(site, case):
    code, expected = CASES[case]
    make_dist(site, "zelda-bad", "0.3", {"bad": code})
    pm = get_plugin_manager()
    info = pm.plugins["bad"]
    assert (info.status, info.dist, info.version) == ("failed", "zelda-bad", "0.3")
    assert expected in info.error
    assert "Traceback" in pm.failure_tracebacks["bad"]
    assert "never" not in pm.providers["models"] and "half_registered" not in pm.providers["metrics"]
    assert pm.plugins["zelda_pyav"].status == "imported"
    assert build("transforms", {"type": "center_crop", "crop_size": 8})


@pytest.mark.parametrize("case", sorted(CASES))
def test_failure_is_an_error_when_strict(site, case, monkeypatch):
    make_dist(site, "zelda-bad", "0.3", {"bad": CASES[case][0]})
    monkeypatch.setenv("ZELDA_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match=r"plugin 'bad' \(zelda-bad 0\.3\) failed to load"):
        get_plugin_manager()


@pytest.mark.parametrize("case", sorted(CASES))
def test_cli_keeps_working_without_traceback(tmp_path, site, cli, case):
    make_dist(site, "zelda-bad", "0.3", {"bad": CASES[case][0]})
    good = recipe(tmp_path, '[metrics.acc]\ntype = "top_k_accuracy"\n')
    out = cli("plugins")
    assert out.returncode == 0, out.stderr
    assert "bad (zelda-bad 0.3): failed" in out.stdout and "Traceback" not in out.stdout
    assert "zelda plugins --traceback" in out.stdout
    assert CASES[case][1] in out.stdout
    out = cli("recipe", "check", good)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    strict = cli("recipe", "check", good, ZELDA_STRICT_PLUGINS="1")
    assert strict.returncode == 1 and "Traceback" not in strict.stderr
    assert "plugin 'bad' (zelda-bad 0.3) failed to load" in strict.stderr


def test_traceback_and_debug_show_the_stored_traceback(site, cli):
    make_dist(site, "zelda-bad", "0.3", {"bad": HOOK_RAISES})
    for flag in ("--traceback", "--debug"):
        out = cli("plugins", flag)
        assert out.returncode == 0
        assert "Traceback (most recent call last)" in out.stdout
        assert 'raise RuntimeError("hook went wrong")' in out.stdout
    out = cli("plugins", "--json", "--traceback")
    bad = {p["name"]: p for p in json.loads(out.stdout)}["bad"]
    assert "RuntimeError: hook went wrong" in bad["traceback"]


def test_check_imports_every_lazy_factory(tmp_path, site, cli):
    mod = "zelda_lazy_lazy"
    make_dist(site, "zelda-lazy", "1.1", {"lazy": UNRESOLVED.format(mod=mod)})
    (site / f"{mod}_heavy.py").write_text(HEAVY)
    out = zelda("plugins", site=site)  # without --check nothing is imported: no verdict
    assert out.returncode == 0 and "lazy (zelda-lazy 1.1): imported" in out.stdout
    out = cli("plugins", "--check")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "lazy (zelda-lazy 1.1): unusable" in out.stdout
    assert "unusable metrics:ghost: 'zelda_lazy_lazy:NoSuchClass' does not resolve" in out.stdout
    assert ("unusable metrics:needs_dep: it needs the missing module "
            "'zelda_missing_dependency_xyz'") in out.stdout
    assert "zelda_pyav (zelda-video" in out.stdout and "Traceback" not in out.stderr
    strict = cli("plugins", "--check", ZELDA_STRICT_PLUGINS="1")
    assert strict.returncode == 1 and "ZELDA_STRICT_PLUGINS is set" in strict.stderr
    assert "'ghost' of plugin 'lazy' (zelda-lazy 1.1)" in strict.stderr


def test_missing_dependency_alone_is_unusable_not_broken(tmp_path, site, cli):
    mod = "zelda_dep_dep"
    code = f"""
        from zelda_core import hookimpl

        @hookimpl
        def register_decoders(register):
            register("needs_lib", "{mod}_heavy:Thing")
    """
    make_dist(site, "zelda-dep", "1.0", {"dep": code})
    (site / f"{mod}_heavy.py").write_text(HEAVY)
    out = cli("plugins", "--check", "--json", ZELDA_STRICT_PLUGINS="1")
    assert out.returncode == 0, out.stderr
    dep = {p["name"]: p for p in json.loads(out.stdout)}["dep"]
    assert dep["status"] == "unusable"
    assert "zelda_missing_dependency_xyz" in dep["problems"]["decoders:needs_lib"]
    good = recipe(tmp_path, '[data]\ndecoder = "needs_lib"\n')
    out = cli("recipe", "check", good)
    assert out.returncode == 1 and "key 'data.decoder'" in out.stderr
    assert "needs the missing module 'zelda_missing_dependency_xyz'" in out.stderr


# -- conflicts -------------------------------------------------------------------------

def test_same_name_is_a_conflict_that_stops_nothing_else(site):
    make_dist(site, "zelda-aaa", "1.0", {"aaa": METRIC})
    make_dist(site, "zelda-bbb", "2.0", {"bbb": METRIC})
    pm = get_plugin_manager()  # loading does not fail
    assert [(k, n) for k, n, _ in pm.conflicts()] == [("metrics", "always_one")]
    assert build("metrics", {"type": "top_k_accuracy"})
    with pytest.raises(RecipeError) as err:
        build("metrics", {"type": "always_one"}, key="metrics.one", file="r.toml")
    msg = str(err.value)
    assert msg.startswith("r.toml, key 'metrics.one'")
    assert "plugin 'aaa' (zelda-aaa 1.0)" in msg and "plugin 'bbb' (zelda-bbb 2.0)" in msg
    assert 'type = "zelda-aaa:always_one" or "zelda-bbb:always_one"' in msg
    assert "ZELDA_DISABLE_PLUGINS=aaa" in msg and "--disable-plugin" in msg
    # a qualified name picks one: by distribution or plugin name, any -/_ spelling
    assert get_component("metrics", "zelda-bbb:always_one").plugin == "bbb"
    assert get_component("metrics", "zelda_aaa:always_one").plugin == "aaa"
    assert get_component("metrics", "aaa:always_one").dist == "zelda-aaa"
    assert build("metrics", {"type": "zelda-bbb:always_one", "scale": 3.0}).scale == 3.0
    with pytest.raises(RecipeError, match="no plugin or distribution 'zelda-ccc' provides"):
        get_component("metrics", "zelda-ccc:always_one")


def test_conflict_with_a_bundled_name_in_the_cli(tmp_path, site, cli):
    make_dist(site, "zelda-extras", "0.1.0", {"extras": FLIP})
    out = zelda("plugins", site=site)
    assert out.returncode == 0, out.stderr
    assert "conflicts" in out.stdout
    assert ("the transform 'flip' is registered by plugin 'extras' (zelda-extras 0.1.0) and "
            "plugin 'zelda_transforms' (zelda-video") in out.stdout
    unrelated = recipe(tmp_path, '[metrics.acc]\ntype = "top_k_accuracy"\n')
    assert cli("recipe", "check", unrelated).returncode == 0
    uses = recipe(tmp_path, '[data.train]\ntype = "video_list"\nann_file = "a.txt"\n'
                            'pipeline = [{ type = "segment_sample", clip_len = 4 }, { type = "decode" }, '
                            '{ type = "flip" }, { type = "format_shape" }, { type = "pack" }]\n'
                            '[model]\ntype = "recognizer"\n[model.preprocessor]\ntype = "normalize"\n'
                            '[model.backbone]\ntype = "conv3d_tiny"\n[model.head]\ntype = "cls_head"\n')
    out = cli("recipe", "check", uses)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "key 'data.train.pipeline[2]'" in out.stderr
    assert '"zelda-extras:flip" or "zelda-video:flip"' in out.stderr
    for choice in ("zelda-extras:flip", "zelda-video:flip", "zelda_transforms:flip"):
        out = cli("recipe", "check", uses, "--set", f'data.train.pipeline.2.type="{choice}"')
        assert out.returncode == 0, out.stderr
    out = cli("--disable-plugin", "extras", "recipe", "check", uses)
    assert out.returncode == 0, out.stderr


def test_qualified_decoder_name(site):
    reader_type = get_component("decoders", "zelda-video:pyav")
    assert reader_type.plugin == "zelda_pyav"
    from zelda_core._recipe import Recipe
    from zelda_core._schema import recipe_errors

    errors = recipe_errors(Recipe({"data": {"decoder": "zelda_pyav:pyav"}}))
    assert not [e for e in errors if e.key == "data.decoder"]


def test_entry_point_name_clash_is_reported(site, monkeypatch):
    make_dist(site / "a", "zelda-first", "1.0", {"shared": METRIC})
    make_dist(site / "b", "zelda-second", "2.0", {"shared": METRIC.replace("always_one", "two")})
    monkeypatch.syspath_prepend(str(site / "a"))
    monkeypatch.syspath_prepend(str(site / "b"))
    pm = get_plugin_manager()
    loaded = [p for p in pm.plugins.values() if p.name == "shared" and p.loaded]
    clashed = [p for p in pm.plugins.values() if p.name == "shared" and p.status == "failed"]
    assert len(loaded) == 1 and len(clashed) == 1
    other = "zelda-first" if clashed[0].dist == "zelda-second" else "zelda-second"
    assert f"entry-point name 'shared' is already used by distribution {other}" in clashed[0].error
    monkeypatch.setenv("ZELDA_STRICT_PLUGINS", "1")
    reset_plugin_manager()
    with pytest.raises(PluginError, match="entry-point name 'shared'"):
        get_plugin_manager()


def test_same_distribution_twice_on_path_is_no_clash(site, monkeypatch):
    make_dist(site / "a", "zelda-twice", "1.0", {"twice": METRIC})
    make_dist(site / "b", "zelda-twice", "1.0", {"twice": METRIC})
    monkeypatch.syspath_prepend(str(site / "a"))
    monkeypatch.syspath_prepend(str(site / "b"))
    monkeypatch.setenv("ZELDA_STRICT_PLUGINS", "1")
    pm = get_plugin_manager()
    assert pm.plugins["twice"].status == "imported" and not pm.failed()


# -- choosing plugins ---------------------------------------------------------------

def test_disable_warns_about_names_that_match_nothing(site, monkeypatch, capsys):
    make_dist(site, "zelda-extra", "1.0", {"extra": METRIC})
    monkeypatch.setenv("ZELDA_DISABLE_PLUGINS", "zelda_extra,nope")
    pm = get_plugin_manager()
    assert pm.plugins["extra"].status == "disabled"  # by distribution name, _ for -
    err = capsys.readouterr().err
    assert "ZELDA_DISABLE_PLUGINS names 'nope', which matches no installed plugin" in err
    assert "zelda_extra" not in err.split("names")[1].split("which")[0]


def test_allowlist_loads_only_the_named_plugins(site, monkeypatch):
    make_dist(site, "zelda-extra", "1.0", {"extra": METRIC})
    make_dist(site, "zelda-boom", "1.0", {"boom": "raise SystemExit('imported!')\n"})
    monkeypatch.setenv("ZELDA_PLUGINS", "extra, zelda-video")
    pm = get_plugin_manager()
    assert pm.plugins["boom"].status == "disabled" and pm.plugins["boom"].error == \
        "not in ZELDA_PLUGINS"
    assert pm.plugins["extra"].status == "imported"
    assert pm.plugins["zelda_pyav"].status == "imported"
    monkeypatch.setenv("ZELDA_PLUGINS", "")
    reset_plugin_manager()
    pm = get_plugin_manager()
    assert {p.status for p in pm.plugins.values()} == {"disabled"}
    with pytest.raises(RecipeError) as err:
        get_component("metrics", "always_one")
    assert "Known metrics: (none)" in str(err.value)
    assert "Disabled plugins (they may provide it): " in str(err.value)
    assert "extra (zelda-extra 1.0: not in ZELDA_PLUGINS)" in str(err.value)


def test_disable_plugin_flag(tmp_path, site, cli):
    make_dist(site, "zelda-extra", "1.0", {"extra": METRIC})
    out = zelda("--disable-plugin", "extra", "plugins", "--json", site=site)
    assert out.returncode == 0, out.stderr
    plugins = {p["name"]: p for p in json.loads(out.stdout)}
    assert plugins["extra"]["status"] == "disabled"
    uses = recipe(tmp_path, '[metrics.one]\ntype = "always_one"\n')
    out = cli("recipe", "check", uses, "--disable-plugin=zelda-extra")
    assert out.returncode == 1
    assert "unknown metric type 'always_one'" in out.stderr
    assert "Disabled plugins (they may provide it): extra (zelda-extra 1.0" in out.stderr


def test_missing_component_names_the_distribution_from_a_resolved_recipe(tmp_path, site,
                                                                          monkeypatch, cli):
    make_dist(site, "zelda-extras", "0.1.0", {"extras": METRIC})
    from zelda_core._recipe import Recipe, load_recipe, write_resolved

    written = write_resolved(Recipe({"metrics": {"one": {"type": "always_one"}}}), tmp_path)
    assert "always_one" in written.read_text() and "zelda-extras==0.1.0" in written.read_text()
    monkeypatch.setenv("ZELDA_DISABLE_PLUGINS", "extras")  # as if it were not installed
    out = cli("recipe", "check", str(written))
    assert out.returncode == 1
    assert "pip install zelda-extras==0.1.0" in out.stderr
    assert load_recipe(written).data == {"metrics": {"one": {"type": "always_one"}}}


def test_missing_component_names_the_distribution_from_a_checkpoint(tmp_path, site,
                                                                     monkeypatch):
    import torch

    from zelda_core._engine.checkpoint import load_checkpoint
    from zelda_core._recipe import versions

    make_dist(site, "zelda-extras", "0.1.0", {"extras": METRIC})
    build("metrics", {"type": "always_one"})
    recorded = versions()  # what the engine stores in a checkpoint after building
    assert recorded["components"]["metrics:always_one"] == "zelda-extras==0.1.0"
    torch.save({"model": {}, "versions": recorded}, tmp_path / "best.pth")
    reset_plugin_manager()
    monkeypatch.setenv("ZELDA_DISABLE_PLUGINS", "zelda-extras")
    load_checkpoint(tmp_path / "best.pth")
    with pytest.raises(RecipeError, match=r"'pip install zelda-extras==0\.1\.0' installs it"):
        get_component("metrics", "always_one")
