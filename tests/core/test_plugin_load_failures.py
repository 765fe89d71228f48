"""A plugin that fails to load in any way (``sys.exit()`` at import or in a hook, an
exception in a library it imports) is named with how to disable it; every command keeps
working; ``plugins --check`` exits 1 when a plugin failed; strict mode says it once.
Real installed distributions, real ``zelda`` subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from plugin_factory import make_dist

EXIT_AT_IMPORT = "import sys\nsys.exit(3)\n"
EXIT_IN_HOOK = """
    import sys
    from zelda_core import hookimpl

    @hookimpl
    def register_models(register):
        sys.exit(3)
"""
RAISE_BASE = "raise GeneratorExit('odd')\n"
LAZY = """
    from zelda_core import hookimpl

    @hookimpl
    def register_metrics(register):
        register("exits", "zelda_lazy_lazy_exits:Metric")
        register("libfails", "zelda_lazy_lazy_lib:Metric")
"""


def zelda(site, *args, **env):
    full = {k: v for k, v in os.environ.items() if not k.startswith("ZELDA_")}
    full["PYTHONPATH"] = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    full.update(env)
    return subprocess.run([sys.executable, "-m", "zelda_core", *args], capture_output=True,
                          text=True, env=full, timeout=120)


@pytest.mark.parametrize("code", [EXIT_AT_IMPORT, EXIT_IN_HOOK, RAISE_BASE],
                         ids=["exit_at_import", "exit_in_hook", "base_exception"])
def test_a_plugin_that_exits_kills_no_command(tmp_path, code):
    site = make_dist(tmp_path / "site", "zelda-exit", "1.0", {"exiter": code})
    version = zelda(site, "--version")
    assert (version.returncode, version.stdout.strip()) == (0, "zelda 0.1.0"), version
    helped = zelda(site, "--help")
    assert helped.returncode == 0 and "COMMAND" in helped.stdout
    listed = zelda(site, "plugins", "--traceback")
    assert listed.returncode == 0, listed.stderr
    block = listed.stdout.split("exiter (zelda-exit 1.0): failed")[1]
    if code != RAISE_BASE:
        assert "error: it called sys.exit(3) while loading (SystemExit)" in block
    else:
        assert "error: GeneratorExit: odd" in block
    assert "Traceback (most recent call last)" in block
    if code != EXIT_AT_IMPORT:  # the rest is the same path for every kind of failure
        return
    plain = zelda(site, "plugins")
    assert "to run without it: zelda --disable-plugin exiter" in plain.stdout
    checked = zelda(site, "plugins", "--check")
    assert checked.returncode == 1, checked.stdout  # a failed plugin fails the check
    gone = zelda(site, "--disable-plugin", "exiter", "plugins", "--check")
    assert gone.returncode == 0 and "exiter (zelda-exit 1.0): disabled" in gone.stdout


def test_strict_mode_says_a_failure_once(tmp_path):
    site = make_dist(tmp_path / "site", "zelda-exit", "1.0", {"exiter": EXIT_AT_IMPORT})
    recipe = tmp_path / "r.toml"
    recipe.write_text('[metrics.acc]\ntype = "top_k_accuracy"\n')
    out = zelda(site, "recipe", "check", str(recipe), ZELDA_STRICT_PLUGINS="1")
    assert out.returncode == 1
    assert out.stderr.count("plugin 'exiter' (zelda-exit 1.0) failed to load") == 1, out.stderr
    assert out.stderr.startswith("zelda: error: ") and "--disable-plugin exiter" in out.stderr
    out = zelda(site, "--version", ZELDA_STRICT_PLUGINS="1")  # no command to report it: a warning
    assert out.returncode == 0 and out.stderr.count("failed to load") == 1, out.stderr


def test_lazy_components_that_exit_or_whose_library_breaks(tmp_path):
    """A component module calling sys.exit is the plugin's bug (--check exits 1); a library
    raising at import (a broken install) leaves the component unusable, naming the library."""
    site = make_dist(tmp_path / "site", "zelda-lazy", "1.0", {"lazy": LAZY})
    (site / "zelda_lazy_lazy_exits.py").write_text("import sys\nsys.exit(4)\nclass Metric: pass\n")
    (site / "zelda_lazy_lazy_lib.py").write_text("import brokenlib_xyz\nclass Metric: pass\n")
    (site / "brokenlib_xyz.py").write_text("raise RuntimeError('compiled for another torch')\n")
    out = zelda(site, "plugins", "--check")
    assert out.returncode == 1 and "Traceback" not in out.stdout + out.stderr, out.stderr
    assert "unusable metrics:exits: importing 'zelda_lazy_lazy_exits' raised SystemExit: 4" in out.stdout
    assert ("unusable metrics:libfails: importing 'zelda_lazy_lazy_lib' raised RuntimeError in the "
            "library 'brokenlib_xyz' it imports: compiled for another torch") in out.stdout
    recipe = tmp_path / "r.toml"
    recipe.write_text('[metrics.acc]\ntype = "libfails"\n')
    out = zelda(site, "recipe", "check", str(recipe))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "key 'metrics.acc'" in out.stderr and "brokenlib_xyz" in out.stderr
