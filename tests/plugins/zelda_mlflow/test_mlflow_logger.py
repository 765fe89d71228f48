"""[loggers.mlflow]: a kinetics2_tiny run read back through MLflow's own API (its SQLite
store in the test's folder): params, every epoch's metrics at their steps, artifacts, run
name and tags, the test as a nested run (and ``zelda test`` of its checkpoint later)."""

from __future__ import annotations

import hashlib
import json

import pytest
from extras import need
from tracker_run import k2_tracked_run

pytestmark = pytest.mark.decoder_independent


def test_a_run_is_readable_back_through_mlflow(tmp_path, shared_dir, monkeypatch):
    mlflow = need("mlflow", "mlflow")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root (./mlartifacts) lands here
    work = k2_tracked_run(tmp_path, shared_dir, f"""
[loggers.mlflow]
tracking_uri = "{uri}"
experiment = "k2"
run_name = "k2-conv3d"
tags = {{ team = "video" }}
""")
    summary = json.loads((work / "summary.json").read_text())
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["k2"], output_format="list")
    parent = next(r for r in runs if r.info.run_name == "k2-conv3d")
    assert parent.info.status == "FINISHED" and parent.data.tags["team"] == "video"
    params = parent.data.params
    assert params["train.epochs"] == "2" and params["model.head.num_classes"] == "2"
    assert params["loggers.mlflow.experiment"] == "k2" and params["data.batch_size"] == "2"
    client = MlflowClient(uri)
    history = client.get_metric_history(parent.info.run_id, "val/top1")
    records = [json.loads(x) for x in (work / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in records if r["type"] == "val"]
    assert [(m.step, m.value) for m in history] == [(r["step"], r["top1"]) for r in val]
    assert len(val) == 2  # every epoch
    assert len(client.get_metric_history(parent.info.run_id, "train/loss")) >= 2
    assert client.get_metric_history(parent.info.run_id, "epoch/lr")
    # the best checkpoint, byte for byte
    best = work / "checkpoints" / "best.pth"
    got = client.download_artifacts(parent.info.run_id, "checkpoint/best.pth", str(tmp_path / "dl"))
    assert hashlib.sha256(open(got, "rb").read()).digest() == hashlib.sha256(best.read_bytes()).digest()
    names = {f.path for f in client.list_artifacts(parent.info.run_id)}
    assert {"resolved.toml", "summary.json", "checkpoint"} <= names, names
    # the test of the best checkpoint: a nested run
    child = next(r for r in runs if r.info.run_name == "test")
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert child.data.metrics["test/top1"] == summary["test"]["top1"]
    assert child.info.status == "FINISHED"
    # zelda test of the checkpoint later: one more run nested in the training run
    from zelda_core._cli.main import main

    out = tmp_path / "retest.json"
    assert main(["test", str(tmp_path / "r.toml"), "--checkpoint", str(best), "--out", str(out)]) == 0
    tests = [r for r in mlflow.search_runs(experiment_names=["k2"], output_format="list")
             if r.info.run_name == "test" and r.info.run_id != child.info.run_id]
    assert len(tests) == 1 and tests[0].data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert tests[0].data.metrics["test/top1"] == json.loads(out.read_text())["metrics"]["top1"]
    assert "metrics/retest.json" in {f.path for f in client.list_artifacts(tests[0].info.run_id, "metrics")}
    assert tests[0].info.status == "FINISHED" and not tests[0].data.params  # params are the training run's
