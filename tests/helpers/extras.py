"""Optional extras in tests: skip where an extra is not installed, fail where it must be.

A test that needs ``onnx`` skips on a machine without the ``export`` extra, but in a CI
session that installed the extra the same skip would hide a broken install. The sessions
list what they installed in ``ZELDA_TEST_EXTRAS`` (comma-separated extra names); for those,
a missing module is an ImportError, a failure.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def required_extras() -> set[str]:
    return {e.strip() for e in os.environ.get("ZELDA_TEST_EXTRAS", "").split(",") if e.strip()}


def need(module: str, extra: str) -> ModuleType:
    """``module`` (of the zelda-video extra ``extra``), or a skip when the extra is not
    installed and not required here."""
    if extra in required_extras():
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"the {extra} extra ({module}) is not installed: "
                                              f"pip install 'zelda-video[{extra}]'")
