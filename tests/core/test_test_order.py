"""Tests that pass or fail by the order they run in: the state that leaked between them
(issue 21) stays put. CI runs files alphabetically, which hid both leaks below."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from zelda_core._cli.main import main
from zelda_core._plugins import get_plugin_manager, reset_plugin_manager

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.decoder_independent


@pytest.mark.parametrize("before", [None, "zelda_wandb"])
def test_main_in_a_process_leaves_disabled_plugins_as_it_found_them(monkeypatch, capsys, before):
    """``--disable-plugin`` reaches worker processes through the environment; a caller
    that goes on after ``main()`` (a test, a notebook) gets its environment back."""
    if before is None:
        monkeypatch.delenv("ZELDA_DISABLE_PLUGINS", raising=False)
    else:
        monkeypatch.setenv("ZELDA_DISABLE_PLUGINS", before)
    reset_plugin_manager()
    assert main(["--disable-plugin", "zelda_mixup", "components", "metrics"]) == 0
    capsys.readouterr()
    assert os.environ.get("ZELDA_DISABLE_PLUGINS") == before
    assert get_plugin_manager().plugins["zelda_mixup"].status != "disabled"
    reset_plugin_manager()


# each pair failed in this order before its fix (and passed alphabetically)
PAIRS = [
    # the in-process cli's --disable-plugin stayed in os.environ: a later run warned about it
    ("tests/core/test_plugin_isolation.py::test_conflict_with_a_bundled_name_in_the_cli",
     "tests/core/test_contract_breaks.py::test_a_broken_component_is_named_in_one_line[compute_not_a_dict]"),
    # a test-made plugin module (zelda_extra_extra) stayed in sys.modules: the next test's
    # distribution of the same module name got the old module
    ("tests/core/test_plugins.py::test_third_party_component_records_provenance",
     "tests/core/test_introspection.py::test_components_json_lists_every_bundled_transform"),
]


def test_known_order_dependent_pairs_pass_in_the_order_that_broke_them(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZELDA_DISABLE", "ZELDA_PLUGINS"))}
    env["ZELDA_TEST_DECODER"] = "pyav"
    ids = [test for pair in PAIRS for test in pair]
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                          "--basetemp", str(tmp_path / "t"), *ids],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert f"{len(ids)} passed" in out.stdout, out.stdout[-2000:]
