"""The bundled wandb logger passes the conformance kit, offline."""

from __future__ import annotations

import pytest
from extras import need

from zelda_testing import check_logger

pytestmark = pytest.mark.decoder_independent


def test_wandb_conforms_offline(tmp_path, monkeypatch):
    need("wandb", "wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    for var in ("WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb-home" / var.lower()))
    check_logger("wandb", tmp_path, params={"mode": "offline", "project": "kit"})
    assert len(list(tmp_path.glob("run*/wandb/offline-run-*/run-*.wandb"))) == 2
