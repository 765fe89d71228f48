"""A Weights & Biases run per ``zelda run`` (``mode = "offline"``: no account, synced
later with ``wandb sync``)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from zelda_core.api import ZeldaError, install_hint

try:
    import wandb
except ImportError as exc:  # the component is unusable, with the line that installs it
    raise ZeldaError(f"the wandb logger needs wandb: {install_hint('wandb')}") from exc

MODES = ("online", "offline", "disabled")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _artifact_name(text: str) -> str:
    """W&B artifact names: letters, digits, '-', '_' and '.'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "artifact"


class WandbLogger:
    """Logs a run to W&B: the resolved recipe as the run's config, every record's numbers
    as ``kind/name`` at the global step, the summary at the end, the best checkpoint,
    plots, metric files and the report as artifacts (type = their kind).

    ``project``, ``entity``, ``name`` (default: the work dir's name), ``group``, ``tags``:
    as in ``wandb.init``; ``mode``: "online", "offline" or "disabled" (None: ``WANDB_MODE``
    or wandb's default); ``dir``: where wandb keeps its run folder (default: the work
    dir); ``checkpoint``: upload the best checkpoint (it can be large)."""

    def __init__(self, project: str = "zelda", entity: str | None = None, name: str | None = None,
                 group: str | None = None, tags: list[str] | None = None, mode: str | None = None,
                 dir: str | None = None, checkpoint: bool = True) -> None:
        if mode is not None and mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
            raise ValueError(f"tags must be a list of strings, got {tags!r}")
        self.options = {"project": project, "entity": entity, "name": name, "group": group,
                        "tags": tags, "mode": mode}
        self.dir, self.checkpoint = dir, checkpoint
        self.run: Any = None

    def start(self, params: dict[str, Any], *, run_name: str, work_dir: Path) -> None:
        options = {k: v for k, v in self.options.items() if v is not None}
        options.setdefault("name", run_name)
        # console="off": wandb leaves stdout alone (zelda's progress bars, train.log)
        settings = wandb.Settings(silent=True, console="off", x_disable_stats=True)
        self.run = wandb.init(config=params, dir=str(self.dir or work_dir), settings=settings,
                              reinit="create_new", **options)

    def log_metrics(self, kind: str, step: int, values: dict[str, Any]) -> None:
        numbers = {f"{kind}/{k}": v for k, v in values.items()
                   if _number(v) and k not in ("iter",)}
        if numbers:
            self.run.log(numbers, step=step)

    def log_artifact(self, path: Path, kind: str) -> None:
        if kind == "checkpoint" and not self.checkpoint:
            return
        artifact = wandb.Artifact(_artifact_name(f"{self.run.name}-{kind}-{Path(path).stem}"),
                                  type=kind)
        artifact.add_file(str(path))
        self.run.log_artifact(artifact)

    def log_summary(self, summary: dict[str, Any]) -> None:
        self.run.summary.update({k: v for k, v in summary.items() if k != "skipped"}
                                | {"skipped_samples": len(summary.get("skipped") or [])})

    def finish(self, status: str) -> None:
        if self.run is not None:
            self.run.finish(exit_code=0 if status == "success" else 1)
            self.run = None
