"""Shared fixtures: the decoder backend under test and the read-only shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("ZELDA_STRICT_PLUGINS", "1")  # the suite runs strict: a broken plugin fails it
os.environ.setdefault("ZELDA_PLOTS", "0")  # runs draw no pictures unless a test asks (seconds each)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def decoder_name() -> str:
    """The decoder backend the nox session chose (ZELDA_TEST_DECODER), pyav by default."""
    return os.environ.get("ZELDA_TEST_DECODER", "pyav")


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
