"""CI covers every bundled plugin, and extras never swap torch.

- A bundled plugin whose library is an optional extra has its tests run by a default nox
  session, and .ci/run runs nox's defaults (so a new ``tests_<extra>`` session is in CI).
- No extra names torch: installing one must not replace the user's torch (a multi-GB CUDA
  build on Linux).
- Where a session installed an extra (ZELDA_TEST_EXTRAS), a test needing it fails instead
  of skipping.

Read from the files (AST, TOML): nox itself is not installed in the test sessions.
"""

from __future__ import annotations

import ast
import re
import shlex
import sys
from pathlib import Path

import pytest
from extras import need

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
NOT_PLUGIN_EXTRAS = {"export", "plot", "tensorboard", "test", "dev", "slurm"}
"""Extras of the core's own commands (tested by the ``tests`` session; ``slurm`` by the
``slurm`` session), not of a plugin."""


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def noxfile_constants() -> dict[str, object]:
    """The module-level constants of noxfile.py that are literals (or dicts with literal
    keys: OPTIONAL_PLUGINS)."""
    tree = ast.parse((REPO / "noxfile.py").read_text(encoding="utf-8"))
    out: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if isinstance(node.value, ast.Dict):
                out[name] = [ast.literal_eval(k) for k in node.value.keys]
            else:
                try:
                    out[name] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    return out


def nox_default_sessions() -> list[str]:
    """nox.options.sessions, with ``tests_{name} for name in OPTIONAL_PLUGINS`` expanded."""
    text = (REPO / "noxfile.py").read_text(encoding="utf-8")
    m = re.search(r"^nox\.options\.sessions = (\[.*?\])\n", text, re.S | re.M)
    assert m, "noxfile.py sets no nox.options.sessions"
    listed = ast.parse(m.group(1), mode="eval").body
    consts = noxfile_constants()
    sessions = []
    for elt in listed.elts:
        if isinstance(elt, ast.Constant):
            sessions.append(elt.value)
        elif isinstance(elt, ast.Starred) and "OPTIONAL_PLUGINS" in ast.unparse(elt):
            sessions += [f"tests_{name}" for name in consts["OPTIONAL_PLUGINS"]]
        else:
            raise AssertionError(f"cannot read {ast.unparse(elt)} in nox.options.sessions")
    return sessions


def ci_nox_sessions() -> list[str] | None:
    """The sessions .ci/run asks nox for (None: nox's defaults)."""
    for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines():
        words = shlex.split(line, comments=True)
        if "nox" in words and "pip" not in words:
            args = words[words.index("nox") + 1:]
            if "-s" in args or "--sessions" in args:
                flag = "-s" if "-s" in args else "--sessions"
                return [a for a in args[args.index(flag) + 1:] if not a.startswith("-")]
            return None
    raise AssertionError(".ci/run does not run nox")


def plugin_extras() -> list[str]:
    """Optional extras that bring a bundled plugin's library (decord, torchvision, ...)."""
    data = pyproject()
    plugins = set(data["project"]["entry-points"]["zelda"])
    extras = set(data["project"]["optional-dependencies"]) - NOT_PLUGIN_EXTRAS
    missing = [e for e in extras if f"zelda_{e}" not in plugins]
    assert not missing, (f"extras {missing} belong to no bundled plugin: name the plugin "
                         "zelda_<extra>, or list the extra in NOT_PLUGIN_EXTRAS")
    return sorted(extras)


def test_ci_runs_a_session_for_every_plugin_extra() -> None:
    consts = noxfile_constants()
    sessions = ci_nox_sessions() or nox_default_sessions()
    for extra in plugin_extras():
        if extra in consts["DECODERS"]:  # the decoder plugins: the tests session, per backend
            assert "tests" in sessions, sessions
        else:
            assert extra in consts["OPTIONAL_PLUGINS"], f"noxfile.py has no session for {extra}"
            assert f"tests_{extra}" in sessions, f".ci/run does not run tests_{extra}: {sessions}"


def test_ci_runs_every_default_session() -> None:
    """.ci/run runs nox's defaults (or names each of them)."""
    named = ci_nox_sessions()
    assert named is None or set(named) >= set(nox_default_sessions()), named


def test_no_extra_pins_or_swaps_torch() -> None:
    for extra, reqs in pyproject()["project"]["optional-dependencies"].items():
        for req in reqs:
            name = re.match(r"[A-Za-z0-9_.-]+", req).group(0).lower()
            assert name != "torch", f"the {extra} extra names torch: {req}"


def test_a_required_extra_fails_instead_of_skipping(monkeypatch) -> None:
    monkeypatch.setenv("ZELDA_TEST_EXTRAS", "")
    with pytest.raises(pytest.skip.Exception, match="zelda-video\\[acme\\]"):
        need("no_such_module_zelda_test", "acme")
    monkeypatch.setenv("ZELDA_TEST_EXTRAS", "export,acme")
    with pytest.raises(ModuleNotFoundError):
        need("no_such_module_zelda_test", "acme")
    assert need("json", "acme").dumps([]) == "[]"
