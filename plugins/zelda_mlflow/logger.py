"""An MLflow run per ``zelda run``, written through ``MlflowClient`` (no global state)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from zelda_core.api import ZeldaError, install_hint

try:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient
except ImportError as exc:  # the component is unusable, with the line that installs it
    raise ZeldaError(f"the mlflow logger needs mlflow: {install_hint('mlflow')}") from exc

MAX_PARAM = 6000
"""MLflow's longest parameter value; longer ones are cut (resolved.toml, an artifact, has all)."""
BATCH = 100


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"data": {"batch_size": 8}}`` -> ``{"data.batch_size": "8"}``; lists as JSON."""
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        out[name] = text if len(text) <= MAX_PARAM else text[:MAX_PARAM - 3] + "..."
    return out


def _number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


class MlflowLogger:
    """Logs a run to MLflow: the resolved recipe as params (dotted keys), every record's
    numbers as ``kind/name`` metrics at the global step, the best checkpoint, plots,
    metric files and report as artifacts (folders named by kind), summary.json and the
    best value at the end; the test of the best checkpoint is a nested run named
    ``test``, and so is ``zelda test`` of a checkpoint of the work dir (nested in the
    work dir's latest training run).

    ``tracking_uri``: where runs go (None: ``MLFLOW_TRACKING_URI``, else MLflow's
    default); ``experiment``: its name (created when missing); ``run_name``: default the
    work dir's name; ``tags``: set on the run; ``checkpoint``: upload the best checkpoint
    (it can be large)."""

    def __init__(self, tracking_uri: str | None = None, experiment: str = "zelda",
                 run_name: str | None = None, tags: dict[str, str] | None = None,
                 checkpoint: bool = True) -> None:
        if not isinstance(experiment, str) or not experiment:
            raise ValueError(f"experiment must be a non-empty name, got {experiment!r}")
        if tags is not None and not isinstance(tags, dict):
            raise ValueError(f"tags must be a table of names to values, got {tags!r}")
        self.tracking_uri, self.experiment = tracking_uri, experiment
        self.run_name, self.tags, self.checkpoint = run_name, dict(tags or {}), checkpoint
        self.client: Any = None
        self.run_id: str | None = None
        self.test_run_id: str | None = None
        self.experiment_id: str | None = None

    def start(self, params: dict[str, Any], *, run_name: str, work_dir: Path) -> None:
        self.client = MlflowClient(self.tracking_uri)
        found = self.client.get_experiment_by_name(self.experiment)
        self.experiment_id = (found.experiment_id if found
                              else self.client.create_experiment(self.experiment))
        self._params, self._run_name, self._work_dir = params, self.run_name or run_name, Path(work_dir)

    def _tags(self) -> dict[str, str]:
        return {"zelda.work_dir": str(self._work_dir), **{k: str(v) for k, v in self.tags.items()}}

    def _open(self, kind: str) -> None:
        """The run, made on the first record: a training run (params, resolved.toml), or,
        when the first record is a test (``zelda test`` of a checkpoint), a run named
        ``test`` nested in the latest training run of the same work dir."""
        if kind == "test":
            parent = self._training_run()
            tags = {**self._tags(), "zelda.split": "test",
                    **({"mlflow.parentRunId": parent} if parent else {})}
            self.run_id = self.test_run_id = self.client.create_run(
                self.experiment_id, run_name="test", tags=tags).info.run_id
            return
        run = self.client.create_run(self.experiment_id, run_name=self._run_name, tags=self._tags())
        self.run_id = run.info.run_id
        flat = [Param(k, v) for k, v in flatten(self._params).items()]
        for i in range(0, len(flat), BATCH):
            self.client.log_batch(self.run_id, params=flat[i:i + BATCH])
        resolved = self._work_dir / "resolved.toml"
        if resolved.is_file():
            self.client.log_artifact(self.run_id, str(resolved))

    def _training_run(self) -> str | None:
        """The newest top-level run logged from this work dir (None: none, or a path MLflow's
        filter syntax cannot quote)."""
        where = str(self._work_dir)
        if "'" in where or "\\" in where:
            return None
        runs = self.client.search_runs([self.experiment_id], f"tags.`zelda.work_dir` = '{where}'",
                                       order_by=["attributes.start_time DESC"], max_results=20)
        return next((r.info.run_id for r in runs if "mlflow.parentRunId" not in r.data.tags), None)

    def log_metrics(self, kind: str, step: int, values: dict[str, Any]) -> None:
        if self.run_id is None:
            self._open(kind)
        now = int(time.time() * 1000)
        metrics = [Metric(f"{kind}/{k}", float(v), now, step) for k, v in values.items()
                   if _number(v) and k not in ("epoch", "iter")]
        if kind == "test":  # the test of the best checkpoint: a run nested in this one
            if self.test_run_id is None:
                child = self.client.create_run(
                    self.experiment_id, run_name="test",
                    tags={"mlflow.parentRunId": self.run_id, "zelda.split": "test"})
                self.test_run_id = child.info.run_id
            self.client.log_batch(self.test_run_id, metrics=metrics)
            return
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def log_artifact(self, path: Path, kind: str) -> None:
        if self.run_id is None:
            self._open(kind)
        if kind == "checkpoint" and not self.checkpoint:
            return
        self.client.log_artifact(self.run_id, str(path), artifact_path=kind)

    def log_summary(self, summary: dict[str, Any]) -> None:
        if self.run_id is None:
            self._open("summary")
        self.client.log_dict(self.run_id, summary, "summary.json")
        if _number(summary.get("best_value")) and summary.get("best_metric"):
            self.client.log_metric(self.run_id, f"best/{summary['best_metric']}",
                                   float(summary["best_value"]), step=int(summary.get("best_epoch") or 0))

    def finish(self, status: str) -> None:
        if self.client is None or self.run_id is None:
            return
        state = "FINISHED" if status == "success" else "FAILED"
        if self.test_run_id not in (None, self.run_id):
            self.client.set_terminated(self.test_run_id, state)
        self.client.set_terminated(self.run_id, state)
        self.run_id = None
