"""[loggers.wandb] offline (no account) and [loggers.mlflow] on one kinetics2_tiny run:
every epoch's metrics, the resolved params and the best checkpoint read back through each
library's own API (W&B: the offline run file, parsed with wandb's record messages;
MLflow: search_runs and MlflowClient on its SQLite store)."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from extras import need
from tracker_run import k2_tracked_run, wandb_records

pytestmark = pytest.mark.decoder_independent


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """W&B offline, its caches and settings inside the test's folder."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    for var in ("WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb-home" / var.lower()))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)


def test_both_trackers_have_every_epoch_the_params_and_the_best_checkpoint(tmp_path, shared_dir, offline):
    need("wandb", "wandb")
    mlflow = need("mlflow", "mlflow")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    work = k2_tracked_run(tmp_path, shared_dir, f"""
[loggers.wandb]
project = "k2"
tags = ["tiny"]

[loggers.mlflow]
tracking_uri = "{uri}"
""")
    records = [json.loads(x) for x in (work / "metrics.jsonl").read_text().splitlines()]
    val = [(r["step"], r["top1"]) for r in records if r["type"] == "val"]
    assert len(val) == 2
    best = (work / "checkpoints" / "best.pth").read_bytes()
    summary = json.loads((work / "summary.json").read_text())

    # W&B: the offline run folder in the work dir (wandb sync uploads it later)
    run_files = list((work / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(run_files) == 1, run_files
    recs = wandb_records(run_files[0])
    kinds = [r.WhichOneof("record_type") for r in recs]
    run = next(r.run for r in recs if r.WhichOneof("record_type") == "run")
    assert run.project == "k2" and run.display_name == "work" and list(run.tags) == ["tiny"]
    config = {u.key: json.loads(u.value_json) for u in run.config.update}
    assert config["train"]["epochs"] == 2 and config["model"]["head"]["num_classes"] == 2
    rows = [{i.nested_key[0] if i.nested_key else i.key: json.loads(i.value_json) for i in r.history.item}
            for r in recs if r.WhichOneof("record_type") == "history"]
    assert [(row["_step"], row["val/top1"]) for row in rows if "val/top1" in row] == val
    summary_updates = {}
    for r in recs:
        if r.WhichOneof("record_type") == "summary":
            summary_updates.update({".".join(u.nested_key) or u.key: json.loads(u.value_json)
                                    for u in r.summary.update})
    assert summary_updates["best_value"] == summary["best_value"]
    assert summary_updates["best_epoch"] == summary["best_epoch"]
    artifacts = [r.artifact for r in recs if r.WhichOneof("record_type") == "artifact"]
    ckpt = next(a for a in artifacts if a.type == "checkpoint")
    entry = next(c for c in ckpt.manifest.contents if c.path == "best.pth")
    assert entry.digest == base64.b64encode(hashlib.md5(best).digest()).decode()
    assert kinds[-1] == "exit" and next(r.exit for r in recs if r.WhichOneof("record_type") == "exit").exit_code == 0

    # MLflow
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["zelda"], output_format="list")
    parent = next(r for r in runs if r.info.run_name == "work")
    assert parent.data.params["train.epochs"] == "2"
    client = MlflowClient(uri)
    assert [(m.step, m.value) for m in client.get_metric_history(parent.info.run_id, "val/top1")] == val
    got = client.download_artifacts(parent.info.run_id, "checkpoint/best.pth", str(tmp_path / "dl"))
    assert open(got, "rb").read() == best
