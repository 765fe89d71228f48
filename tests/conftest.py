"""Shared fixtures: the decoder backend under test and the read-only shared data.

The suite is laid out like the code: ``core/`` tests ``zelda_core`` (and the conformance
kit), ``plugins/<plugin>/`` each bundled plugin (``plugins/decoders/`` both decoders), and
``helpers/`` holds the modules tests share (test media, fixtures), importable by name.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

os.environ.setdefault("ZELDA_STRICT_PLUGINS", "1")  # the suite runs strict: a broken plugin fails it
os.environ.setdefault("ZELDA_PLOTS", "0")  # runs draw no pictures unless a test asks (seconds each)

REPO = Path(__file__).resolve().parents[1]
BUNDLED_DECODERS = {"pyav": "av", "decord": "decord", "torchcodec": "torchcodec"}  # decoder: its library


def decoders_under_test() -> list[str]:
    """ZELDA_TEST_DECODER (comma-separated; each nox session names one), else every bundled
    decoder whose library is installed."""
    chosen = [d.strip() for d in os.environ.get("ZELDA_TEST_DECODER", "").split(",") if d.strip()]
    return chosen or [d for d, lib in BUNDLED_DECODERS.items() if importlib.util.find_spec(lib)]


def _runs_here(item: pytest.Item, selected: str) -> bool:
    # stress and slurm tests run only when the -m expression names them
    if any(item.get_closest_marker(m) and m not in selected for m in ("stress", "slurm")):
        return False
    # decoder_independent: the same test in every decoder session would only repeat itself
    return not (item.get_closest_marker("decoder_independent")
                and "pyav" not in decoders_under_test())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stress tests (marker ``stress``: many repetitions under load, minutes each) and the
    SLURM cluster tests (marker ``slurm``: the nox session ``slurm`` runs them) run only
    when the ``-m`` expression names them (``-m stress``); any other run deselects them.
    Tests marked ``decoder_independent`` run only where pyav is under test (the pyav nox
    session, or a plain ``pytest``)."""
    selected = config.getoption("markexpr") or ""
    left = [item for item in items if not _runs_here(item, selected)]
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = [item for item in items if _runs_here(item, selected)]


@pytest.fixture(scope="session", params=decoders_under_test())
def decoder_name(request: pytest.FixtureRequest) -> str:
    """The decoder backend under test: a fixture parameter, so one run can cover both."""
    return request.param


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the checkout (or $ZELDA_SHARED); skips when a clone has none."""
    path = Path(os.environ.get("ZELDA_SHARED", REPO.parent / "shared"))
    if not (path / "data").is_dir():
        pytest.skip(f"shared data not found at {path} (set ZELDA_SHARED to its location)")
    return path


from deploy_fixtures import (  # noqa: E402, F401 - session fixtures of the deploy tests
    k2_recipe_run,
    kinetics2,
    separator,
    tiny_run,
    tiny_run2,
)


@pytest.fixture(autouse=True)
def _forget_test_modules(tmp_path_factory: pytest.TempPathFactory):
    """Modules a test imported from its own temporary folders (the plugins and
    distributions tests write with ``plugin_factory.make_dist``) leave ``sys.modules``
    after it: the next test may write another module of the same name, and Python would
    hand it the cached one (the order-dependent failures of issue 21)."""
    before = set(sys.modules)
    yield
    base = str(tmp_path_factory.getbasetemp())
    for name in set(sys.modules) - before:
        origin = getattr(sys.modules.get(name), "__file__", None) or ""
        if origin.startswith(base):
            del sys.modules[name]
