"""The torchvision plugin registers its models without torchvision installed (runs in CI,
where the torchvision extra is not installed)."""

from __future__ import annotations

import json
import subprocess
import sys

from zelda_torchvision.archs import ARCHS


def test_plugins_json_lists_the_models() -> None:
    proc = subprocess.run([sys.executable, "-m", "zelda_core", "plugins", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    plugins = {p["name"]: p for p in json.loads(proc.stdout)}
    assert sorted(plugins["zelda_torchvision"]["components"]["models"]) == sorted(ARCHS)
