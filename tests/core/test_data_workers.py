"""``data.workers = "auto"``: loader processes from the cores per local training process."""

from __future__ import annotations

import pytest

from zelda_core._data.config import data_errors
from zelda_core._data.workers import auto_workers, local_processes, resolve_workers


def test_auto_workers_share_cores_between_local_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert auto_workers(16, 1) == 15  # one process: every core but its own
    assert auto_workers(64, 8) == 7  # 8 GPUs, 8 processes: 8 cores each, one is the trainer
    assert auto_workers(2, 4) == 1  # never zero: a worker keeps decoding off the main process
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert local_processes() == 4
    assert resolve_workers("auto") == auto_workers(processes=4)
    assert resolve_workers(3) == 3


def test_recipe_accepts_auto_and_rejects_other_words() -> None:
    assert data_errors({"workers": "auto"}, None) == []
    (err,) = data_errors({"workers": "many"}, None)
    assert "data.workers" in str(err) and "'auto'" in str(err)
