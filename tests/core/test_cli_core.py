"""The CLI as a user runs it: exit codes, messages, start-up cost, plugin listing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from plugin_factory import make_dist

TOY = """
    from zelda_core import hookimpl

    class Acc:
        def __init__(self, k: list[int] = [1]):
            self.k = k

    @hookimpl
    def register_metrics(register):
        register("toy_acc", Acc)
"""


def zelda(*args, env=None, cwd=None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "zelda_core", *args], capture_output=True,
                          text=True, env=full_env, cwd=cwd, timeout=120)


@pytest.fixture
def toy_path(tmp_path):
    site = make_dist(tmp_path / "site", "zelda-toy", "1.0", {"toy": TOY})
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def test_version_and_help():
    out = zelda("--version")
    assert out.returncode == 0 and out.stdout.startswith("zelda ")
    out = zelda("--help")
    assert out.returncode == 0
    for command in ("plugins", "recipe"):
        assert command in out.stdout


@pytest.mark.parametrize("argv", [["--help"], ["plugins"], ["plugins", "--json"]])
def test_light_commands_import_no_heavy_module(argv):
    code = (
        "import sys\nfrom zelda_core._cli.main import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', [m for m in ('torch', 'av', 'decord') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout[-500:] + out.stderr[-2000:]


def test_plugins_json_lists_bundled_and_third_party(toy_path):
    out = zelda("plugins", "--json", env=toy_path)
    assert out.returncode == 0, out.stderr
    plugins = {p["name"]: p for p in json.loads(out.stdout)}
    assert plugins["zelda_pyav"]["distribution"] == "zelda-video"
    assert plugins["zelda_pyav"]["version"]
    assert plugins["toy"]["components"]["metrics"] == ["toy_acc"]
    assert plugins["toy"]["version"] == "1.0" and plugins["toy"]["status"] == "imported"


def test_plugins_shows_disabled(toy_path):
    out = zelda("plugins", env={**toy_path, "ZELDA_DISABLE_PLUGINS": "toy"})
    assert "toy (zelda-toy 1.0): disabled" in out.stdout


def test_recipe_check_ok_and_user_error(tmp_path, toy_path):
    good = tmp_path / "good.toml"
    good.write_text('[metrics.acc]\ntype = "toy_acc"\nk = [1, 5]\n')
    out = zelda("recipe", "check", str(good), env=toy_path)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr
    out = zelda("recipe", "check", str(good), "--set", "metrics.acc.type=\"toy_ac\"", env=toy_path)
    assert out.returncode == 1
    assert "unknown metric type 'toy_ac'" in out.stderr and "Did you mean 'toy_acc'" in out.stderr
    assert "Traceback" not in out.stderr
    out = zelda("recipe", "check", str(good), "--set", "metrics.acc.k=5", env=toy_path)
    assert out.returncode == 1 and "parameter 'k' expects list" in out.stderr


def test_debug_shows_traceback(tmp_path):
    out = zelda("recipe", "check", str(tmp_path / "missing.toml"), "--debug")
    assert out.returncode == 1 and "Traceback" in out.stderr and "RecipeError" in out.stderr
    out = zelda("recipe", "check", str(tmp_path / "missing.toml"))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "recipe file not found" in out.stderr


def test_usage_errors_exit_2():
    assert zelda("recipe").returncode == 2
    assert zelda("no-such-command").returncode == 2
    assert zelda().returncode == 2


def test_recipe_show_prints_resolved_toml(tmp_path):
    (tmp_path / "base.toml").write_text("[data]\nroot = \"a\"\nbatch_size = 2\n")
    child = tmp_path / "child.toml"
    child.write_text('extends = "base.toml"\n[data]\nbatch_size = 4\n')
    out = zelda("recipe", "show", str(child), "--set", "data.root=b")
    assert out.returncode == 0
    assert 'root = "b"' in out.stdout and "batch_size = 4" in out.stdout
    assert "extends" not in out.stdout


def test_syntax_error_exit_1_with_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[data\nroot = 1\n")
    out = zelda("recipe", "check", str(bad))
    assert out.returncode == 1 and f"{bad}:1:" in out.stderr


def test_entry_point_discovery_through_pip_installed_example(tmp_path):
    """The example plugin, installed by pip into a target folder, shows up and builds."""
    example = Path(__file__).resolve().parents[2] / "examples" / "zelda-plugin-example"
    target = tmp_path / "target"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(example)],
        capture_output=True, text=True, timeout=300,
    )
    if pip.returncode != 0 and "setuptools" in pip.stderr:
        pytest.skip(f"cannot build the example without setuptools: {pip.stderr[-300:]}")
    assert pip.returncode == 0, pip.stderr
    env = {"PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    out = zelda("plugins", "--json", env=env)
    plugins = {p["name"]: p for p in json.loads(out.stdout)}
    assert plugins["zelda_plugin_example"]["distribution"] == "zelda-plugin-example"
    assert plugins["zelda_plugin_example"]["version"] == "0.2.0"
    assert plugins["zelda_plugin_example"]["components"]["transforms"] == ["temporal_reverse"]
    assert plugins["zelda_plugin_example"]["components"]["metrics"] == ["error_rate"]
    code = (
        "import numpy as np, torch\nfrom zelda_core import build\n"
        "t = build('transforms', {'type': 'temporal_reverse'})\n"
        "s = t({'imgs': np.arange(4).reshape(4, 1, 1, 1).astype('uint8'), 'clip_len': 2})\n"
        "m = build('metrics', {'type': 'error_rate'})\n"
        "m.update(torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 0]))\n"
        "print(s['imgs'].ravel().tolist(), m.compute())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "[1, 0, 3, 2] {'error_rate': 0.5}" in out.stdout
