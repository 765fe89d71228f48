"""Where each kind of component lives in a recipe: its tables, by key path.

Shared by validation (``_schema``) and provenance (``_recipe.versions``); it imports
neither, so the two do not import each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

DATASET_INJECTED = ("root", "pipeline", "decoder", "on_error")
DEFAULT_LOGGERS = ("jsonl", "tensorboard")
"""The loggers every run has without naming them (tensorboard where it is installed); a
recipe turns one off with ``loggers.NAME = false``."""
RECORD_LOGGER = "jsonl"
"""metrics.jsonl, the run's own record (resume, zelda plot, the report read it): never off."""
AUTO_DECODER = "auto"
"""``data.decoder = "auto"``: ``zelda bench train`` measures the installed backends and
uses the cheapest; everywhere else it is a recipe error that says so."""


@dataclass
class TableRef:
    """One component table of a recipe: its key path, kind, table and engine-given params."""

    key: str
    kind: str
    table: Any
    injected: tuple[str, ...] = ()


def component_tables(data: dict[str, Any]) -> Iterator[TableRef]:
    """Every component table in a recipe dict, by key path."""
    d = data.get("data")
    if isinstance(d, dict):
        if "decoder" in d and d["decoder"] != AUTO_DECODER:  # "auto": value_errors says where it works
            options = d.get("decoder_options") or {}
            table = {"type": d["decoder"], **(options if isinstance(options, dict) else {})}
            yield TableRef("data.decoder", "decoders", table, ("path",))
        for split, table in d.items():
            if not (isinstance(table, dict) and "type" in table):
                continue
            yield TableRef(f"data.{split}", "datasets",
                           {k: v for k, v in table.items() if k != "pipeline"}, DATASET_INJECTED)
            pipeline = table.get("pipeline", [])
            if isinstance(pipeline, list):
                for i, step in enumerate(pipeline):
                    yield TableRef(f"data.{split}.pipeline[{i}]", "transforms", step)
    if "model" in data:
        yield TableRef("model", "models", data["model"])
    metrics = data.get("metrics")
    if isinstance(metrics, dict):
        for name, table in metrics.items():
            yield TableRef(f"metrics.{name}", "metrics", table)
    train = data.get("train")
    steps = train.get("batch_transforms") if isinstance(train, dict) else None
    if isinstance(steps, list):
        for i, step in enumerate(steps):
            yield TableRef(f"train.batch_transforms[{i}]", "batch_transforms", step)
    loggers = data.get("loggers")
    if isinstance(loggers, dict):
        for name, table in loggers.items():
            if isinstance(table, dict):  # ``type`` defaults to the table's name
                yield TableRef(f"loggers.{name}", "loggers", {"type": name, **table})
