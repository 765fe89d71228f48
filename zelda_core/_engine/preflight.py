"""What ``zelda recipe check`` builds without data, so it rejects what ``zelda run`` would.

"check" means built: each split's transforms, the metrics, the model (on the meta device:
no memory, no initialization time; the class count is a placeholder when the data would
give it), then the optimizer, scheduler, warmup and finetune rules on the model's own
parameters. Only what needs the data (datasets, the class count, videos) is left to run.
"""

from __future__ import annotations

import copy
from typing import Any

from .._errors import RecipeError, ZeldaError

PLACEHOLDER_CLASSES = 2
"""The class count a check build uses where run would take it from the data."""


def build_errors(recipe: Any) -> list[ZeldaError]:
    """Every problem building the recipe's parts finds (empty when all of them build)."""
    from .._pipeline import Pipeline
    from .build import build_metrics, build_model, model_table

    data, file = copy.deepcopy(recipe.data), recipe.file
    errors: list[ZeldaError] = []
    table = data.get("data") if isinstance(data.get("data"), dict) else {}
    splits = [k for k, v in table.items() if isinstance(v, dict) and "type" in v]
    for split in splits:
        try:
            Pipeline.from_config(table[split].get("pipeline", []), key=f"data.{split}.pipeline", file=file)
        except ZeldaError as exc:
            errors.append(exc)
    try:
        build_metrics(data, file=file)
    except ZeldaError as exc:
        errors.append(exc)
    if "train" in splits and not isinstance(data.get("model"), dict):
        errors.append(RecipeError("the recipe trains (it has [data.train]) but has no [model] table; "
                                  "add one with a type ('zelda components models' lists them)",
                                  file=file, key="model"))
    if not isinstance(data.get("model"), dict):
        return errors
    model = _model(data, file, build_model, model_table, errors)
    if model is None or errors:
        return errors
    errors += _train_errors(model, data, file)
    return errors


def _model(data: dict[str, Any], file: str | None, build_model: Any, model_table: Any,
           errors: list[ZeldaError]) -> Any:
    import torch

    given = (data.get("data") or {}).get("train", {}).get("num_classes") \
        if isinstance((data.get("data") or {}).get("train"), dict) else None
    try:
        table = model_table(data, given if isinstance(given, int) else PLACEHOLDER_CLASSES, file=file)
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
