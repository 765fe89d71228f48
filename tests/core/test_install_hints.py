"""Install hints name the installed distribution (``zelda-video``), never ``zelda``: on PyPI
``zelda`` is an unrelated project, so a hint naming its extras installs a stranger's
code. The tree scan keeps every file (code, docs, README, examples, recipes, CI) free of it;
the runtime hints come from ``zelda_core.api.install_hint``, read from the metadata."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from zelda_core.api import distribution_of, install_hint

REPO = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", ".nox", "__pycache__", "build", "dist", "data", "work_dirs",
             ".ruff_cache", ".pytest_cache"}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".cfg", ".ini", ".rst", ".sh", ".yml",
                 ".yaml", ".json", ".in", ""}
# "zelda" then "[" (an extra), not preceded by a name character: zelda-video[x] is fine
WRONG_HINT = re.compile(r"(?<![\w.-])zelda\s*\[")


def tree_files(root: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in filenames:
            path = Path(dirpath, name)
            if path.suffix in TEXT_SUFFIXES:
                found.append(path)
    return found


def wrong_hints(root: Path) -> list[str]:
    """``file:line: text`` of every hint that names the extra of a distribution ``zelda``."""
    out = []
    for path in tree_files(root):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if WRONG_HINT.search(line):
                out.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    return out


def test_no_file_in_the_tree_hints_at_the_distribution_zelda() -> None:
    assert wrong_hints(REPO) == []


def test_the_scan_sees_every_kind_of_file(tmp_path: Path) -> None:
    """The scan is shown to catch the hint in code, docs, recipes and an extension-less
    script, and to pass the right name."""
    bad = "pip install 'zel" + "da[export]'"
    for rel in ("pkg/mod.py", "docs/x.md", "recipes/r.toml", ".ci/run", "README.md"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(f"# {bad}\nok: pip install 'zelda-video[export]'\n")
    found = wrong_hints(tmp_path)
    assert sorted(f.split(":")[0] for f in found) == sorted(
        [".ci/run", "README.md", "docs/x.md", "pkg/mod.py", "recipes/r.toml"])


def test_install_hint_names_the_installed_distribution() -> None:
    dist = metadata.distribution("zelda-video").metadata["Name"]
    assert distribution_of("zelda_core") == dist
    assert install_hint("export") == f"pip install '{dist}[export]'"
    assert install_hint() == f"pip install {dist}"
    # a bundled plugin asks for its own package: the same distribution here
    assert install_hint("decord", package="zelda_decord.reader") == f"pip install '{dist}[decord]'"


def test_a_plugin_in_another_distribution_gets_its_own_name(tmp_path: Path) -> None:
    """A third-party plugin's hint names its distribution, read from the metadata; an
    unknown package falls back to zelda-video."""
    (tmp_path / "acme_plugin").mkdir()
    (tmp_path / "acme_plugin" / "__init__.py").write_text("")
    info = tmp_path / "acme_zelda-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-zelda\nVersion: 1.0\n")
    (info / "top_level.txt").write_text("acme_plugin\n")
    (info / "RECORD").write_text("acme_plugin/__init__.py,,\n")
    code = ("from zelda_core.api import install_hint\n"
            "print(install_hint('gpu', package='acme_plugin'))\n"
            "print(install_hint('x', package='no_such_package_anywhere'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(tmp_path)}, check=True).stdout
    assert out.splitlines() == ["pip install 'acme-zelda[gpu]'",
                                "pip install 'zelda-video[x]'"]


def _without(module: str, code: str) -> str:
    """stderr+stdout of ``code`` run with ``module`` made unimportable."""
    prelude = f"import sys; sys.modules[{module!r}] = None\n"
    proc = subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True)
    return proc.stdout + proc.stderr


@pytest.mark.parametrize(("module", "code", "extra"), [
    ("onnx", "from zelda_core._deploy.metadata import read_metadata\n"
             "import tempfile, pathlib\n"
             "p = pathlib.Path(tempfile.mkdtemp()) / 'm.onnx'; p.write_bytes(b'x')\n"
             "try: read_metadata(p)\n"
             "except Exception as e: print(e)\n", "export"),
    ("onnx", "from zelda_core._deploy.export import _import\n"
             "try: _import('onnx')\n"
             "except Exception as e: print(e)\n", "export"),
    ("matplotlib", "from zelda_core._deploy.plot import plot_runs\n"
                   "try: plot_runs([], '.')\n"
                   "except Exception as e: print(e)\n", "plot"),
    ("decord", "try: import zelda_decord.reader\n"
               "except ImportError as e: print(e)\n", "decord"),    ("torchcodec", "try: import zelda_torchcodec.reader\n"
                   "except ImportError as e: print(e)\n", "torchcodec"),
])
def test_missing_extra_messages_name_the_distribution(module: str, code: str, extra: str) -> None:
    out = _without(module, code)
    assert f"pip install '{distribution_of()}[{extra}]'" in out, out


@pytest.mark.parametrize(("command", "extra"), [("export", "export"), ("plot", "plot")])
def test_help_texts_name_the_distribution(command: str, extra: str) -> None:
    out = subprocess.run([sys.executable, "-m", "zelda_core", command, "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert f"pip install '{distribution_of()}[{extra}]'" in " ".join(out.split()), out


def test_a_run_without_matplotlib_says_plots_are_skipped_once(tmp_path: Path, monkeypatch,
                                                               capsys) -> None:
    """The end of ``zelda run`` without the plot extra: one line, with the install line,
    on the console and in train.log; no plots folder."""
    from zelda_core._engine.log import RunLogger
    from zelda_core._engine.train import write_plots

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    logger = RunLogger(tmp_path)
    write_plots(logger, tmp_path)
    logger.close()
    out = capsys.readouterr().out
    said = [x for x in out.splitlines() if "plots skipped" in x]
    assert len(said) == 1 and f"{install_hint('plot')}" in said[0], out
    assert (tmp_path / "train.log").read_text().count("plots skipped") == 1
    assert not (tmp_path / "plots").exists()
