"""What ``zelda recipe check`` builds without decoding a video, so it rejects what
``zelda run`` would.

"check" means built: each split's transforms, the metrics, the model (on the meta device:
no memory, no initialization time), then the optimizer, scheduler, warmup and finetune
rules on the model's own parameters. The model and metrics get the class count run would
give them where it can be had without decoding: the recipe's ``data.train.num_classes``,
else the train split's own annotations when ``data.root`` is on this machine (the
dataset is built, which reads its annotation file or class folders and opens no video),
else a placeholder. Only what needs the videos is left to run.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any

from .._errors import RecipeError, ZeldaError

PLACEHOLDER_CLASSES = 2
"""The class count a check build uses where the data that gives it is not here."""


@dataclass
class ClassCount:
    """The class count a check builds with, and where it came from (``real``: what run
    would use)."""

    count: int
    real: bool
    source: str
    multi_label: bool = False

    def line(self) -> str:
        return f"classes: {self.count}, {self.source}"


def class_count(data: dict[str, Any], file: str | None) -> ClassCount:
    """The recipe's ``data.train.num_classes``, else the train split's classes when its
    data root is here (annotations read as the dataset reads them; no video opened),
    else :data:`PLACEHOLDER_CLASSES`."""
    table = data.get("data") if isinstance(data.get("data"), dict) else {}
    train = table.get("train") if isinstance(table.get("train"), dict) else None
    given = train.get("num_classes") if train else None
    if isinstance(given, int) and not isinstance(given, bool) and given > 0:
        return ClassCount(given, True, "the recipe's data.train.num_classes")
    root = table.get("root")
    placeholder = "a placeholder (run takes the count from the data: {})"
    if train is None or "type" not in train:
        return ClassCount(PLACEHOLDER_CLASSES, False, placeholder.format("the recipe has no [data.train]"))
    if not isinstance(root, str) or not root:
        return ClassCount(PLACEHOLDER_CLASSES, False, placeholder.format("the recipe names no data.root"))
    from .._data import build_dataset, resolve_root

    where = resolve_root(root, file)
    if not os.path.isdir(where):
        return ClassCount(PLACEHOLDER_CLASSES, False, placeholder.format(f"data.root {root} is not here"))
    try:
        ds = build_dataset(data, "train", recipe_file=file)
    except ZeldaError as exc:  # the data's own problems are zelda data check's to list
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return ClassCount(PLACEHOLDER_CLASSES, False, placeholder.format(
            f"the train split could not be read: {first}; 'zelda data check' lists its problems"))
    classes = list(getattr(ds, "classes", []) or [])
    if not classes:
        return ClassCount(PLACEHOLDER_CLASSES, False, placeholder.format("the train split names no class"))
    return ClassCount(len(classes), True, f"from the train split's annotations under {where}",
                      multi_label=bool(getattr(ds, "multi_label", False)))


def build_errors(recipe: Any, notes: list[str] | None = None) -> list[ZeldaError]:
    """Every problem building the recipe's parts finds (empty when all of them build).
    ``notes`` receives the class count used (one line) and the metrics' warnings."""
    from .._pipeline import Pipeline
    from .build import build_metrics, build_model, model_table

    data, file = copy.deepcopy(recipe.data), recipe.file
    notes = [] if notes is None else notes
    errors: list[ZeldaError] = []
    table = data.get("data") if isinstance(data.get("data"), dict) else {}
    splits = [k for k, v in table.items() if isinstance(v, dict) and "type" in v]
    for split in splits:
        try:
            Pipeline.from_config(table[split].get("pipeline", []), key=f"data.{split}.pipeline", file=file)
        except ZeldaError as exc:
            errors.append(exc)
    count = class_count(data, file) if not errors else \
        ClassCount(PLACEHOLDER_CLASSES, False, "a placeholder (the pipelines did not build)")
    notes.append(count.line())
    try:
        build_metrics(data, file=file, num_classes=count.count if count.real else None, notes=notes,
                      best_metric=_best_metric(data) if count.real and "val" in splits else None)
    except ZeldaError as exc:
        errors.append(exc)
    if "train" in splits and not isinstance(data.get("model"), dict):
        errors.append(RecipeError("the recipe trains (it has [data.train]) but has no [model] table; "
                                  "add one with a type ('zelda components models' lists them)",
                                  file=file, key="model"))
    if not isinstance(data.get("model"), dict):
        return errors
    model = _model(data, file, count, build_model, model_table, errors)
    if model is None or errors:
        return errors
    errors += _train_errors(model, data, file)
    return errors


def _best_metric(data: dict[str, Any]) -> str | None:
    train = data.get("train")
    name = train.get("best_metric") if isinstance(train, dict) else None
    return name if isinstance(name, str) else None


def _model(data: dict[str, Any], file: str | None, count: ClassCount, build_model: Any, model_table: Any,
           errors: list[ZeldaError]) -> Any:
    import torch

    try:
        table = model_table(data, count.count, file=file, multi_label=count.multi_label)
        table = _check_table(table)
        try:
            with torch.device("meta"):  # parameters without memory or initialization time
                return build_model(table, file=file)
        except ZeldaError:
            raise
        except Exception:  # noqa: BLE001 - a model that cannot be built on meta: on the CPU
            return build_model(table, file=file)
    except ZeldaError as exc:
        errors.append(exc)
        return None


def _check_table(table: dict[str, Any]) -> dict[str, Any]:
    """The model table as a check builds it: a factory with ``check_params(params)`` (see
    ``zelda_core.api.Model``) swaps what needs the network or large files (pretrained
    weights) for what builds the same structure offline."""
    from .._registry import get_component, resolve_factory

    try:
        factory = resolve_factory(get_component("models", table["type"]))
    except (ZeldaError, KeyError, TypeError):
        return table
    adjust = getattr(factory, "check_params", None)
    if not callable(adjust):
        return table
    params = adjust({k: v for k, v in table.items() if k != "type"})
    return {"type": table["type"], **params}


def _train_errors(model: Any, data: dict[str, Any], file: str | None) -> list[ZeldaError]:
    from .config import parse_train_config
    from .finetune import Finetune, enable_gradient_checkpointing
    from .optim import Scheduler, Warmup, build_optimizer

    try:
        cfg = parse_train_config(data.get("train"), file=file)
    except ZeldaError as exc:
        return [exc]
    errors: list[ZeldaError] = []
    from .targets import build_batch_transforms

    try:
        build_batch_transforms(cfg.batch_transforms, file=file)
    except ZeldaError as exc:
        errors.append(exc)
    try:
        if cfg.gradient_checkpointing:
            enable_gradient_checkpointing(model)
        finetune = Finetune.from_table(cfg.finetune)
        finetune.check(model)
        optimizer = build_optimizer(model, cfg.optimizer, finetune.param_groups(model, cfg.optimizer))
        if cfg.scheduler:
            Scheduler(optimizer, cfg.scheduler, epochs=cfg.epochs, steps_per_epoch=1)
        Warmup(cfg.warmup, 1)
    except ZeldaError as exc:
        errors.append(exc if getattr(exc, "file", None) else RecipeError(
            getattr(exc, "reason", str(exc)), file=file, key=getattr(exc, "key", None)))
    return errors
