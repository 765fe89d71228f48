"""The bundled mlflow logger passes the conformance kit (MLflow's file store, allowed
for the test: it needs no database migration)."""

from __future__ import annotations

import pytest
from extras import need

from zelda_testing import check_logger

pytestmark = pytest.mark.decoder_independent


def test_mlflow_conforms(tmp_path, monkeypatch):
    mlflow = need("mlflow", "mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    check_logger("mlflow", tmp_path, params={"tracking_uri": uri, "experiment": "kit"})
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["kit"], output_format="list")
    names = sorted(r.info.run_name for r in runs)
    assert names == ["run1", "run2", "test", "test"], names  # each with its nested test
    assert all(r.info.status == "FINISHED" for r in runs)
