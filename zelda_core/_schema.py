"""Whole-recipe validation.

``validate_recipe`` checks every component table against its factory's signature and
reports every problem at once, before anything heavy (decoding, training) runs.
"""

from __future__ import annotations

import difflib
import importlib.util
from typing import Any

from ._data.config import data_errors
from ._errors import RecipeError
from ._recipe import META_KEY, REPLACE_KEY, Recipe
from ._recipe_tables import DEFAULT_LOGGERS, RECORD_LOGGER, component_tables
from ._schema_values import value_errors
from ._slurm.config import launch_errors

TOP_LEVEL_KEYS = ("seed", "work_dir", "data", "model", "train", "metrics", "loggers", "launch", META_KEY)


def _structure_errors(data: dict[str, Any], file: str | None) -> list[RecipeError]:
    errors = []
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            hint = difflib.get_close_matches(key, TOP_LEVEL_KEYS, n=1)
            errors.append(RecipeError(
                f"unknown top-level key '{key}'"
                + (f"; did you mean '{hint[0]}'?" if hint else "")
                + f" Top-level keys are: {', '.join(TOP_LEVEL_KEYS)}.", file=file, key=key))
    d = data.get("data", {})
    if not isinstance(d, dict):
        return errors + [RecipeError("'data' must be a table", file=file, key="data")]
    errors += data_errors(d, file)
    errors += launch_errors(data.get("launch"), file)
    metrics = data.get("metrics")
    if metrics is not None and not (isinstance(metrics, dict) and all(isinstance(v, dict) for v in metrics.values())):
        errors.append(RecipeError(
            "expects tables like [metrics.accuracy] with type = \"top_k_accuracy\"",
            file=file, key="metrics"))
    return errors + _loggers_errors(data.get("loggers"), file)


def _loggers_errors(loggers: Any, file: str | None) -> list[RecipeError]:
    """``[loggers.NAME]`` tables, or ``NAME = false`` for a default logger."""
    if loggers is None:
        return []
    if not isinstance(loggers, dict):
        return [RecipeError('expects tables like [loggers.mlflow] with type = "mlflow"',
                            file=file, key="loggers")]
    errors = []
    for name, table in loggers.items():
        if isinstance(table, dict):
            continue
        if name == RECORD_LOGGER:
            why = ("metrics.jsonl is the run's own record (resume, zelda plot and the report "
                   "read it) and cannot be turned off")
        elif table is False and name in DEFAULT_LOGGERS:
            continue
        else:
            why = (f'expected a table like [loggers.{name}] with type = "..." (or '
                   f"{' / '.join(f'loggers.{d} = false' for d in DEFAULT_LOGGERS[1:])} to turn "
                   f"a default logger off), got {table!r}")
        errors.append(RecipeError(why, file=file, key=f"loggers.{name}"))
    return errors


def _pipelines_errors(data: dict[str, Any], file: str | None) -> list[RecipeError]:
    """Each split's pipeline as a whole: what each step needs is there, and it ends with
    what the model takes."""
    from ._pipeline_check import pipeline_errors

    d = data.get("data")
    errors: list[RecipeError] = []
    for split, table in (d.items() if isinstance(d, dict) else ()):
        if isinstance(table, dict) and "type" in table:
            errors += pipeline_errors(table.get("pipeline", []), f"data.{split}.pipeline", file)
    return errors


def _inherited_hint(error: RecipeError, table_key: str) -> RecipeError:
    """An unknown parameter in a recipe that extends another may be the parent's, merged
    into a table the child meant to replace (a new ``type``): say how to replace it."""
    if not error.reason.startswith("unknown parameter"):
        return error
    hint = (f" If it comes from a parent recipe (extends): tables merge key by key; to replace "
            f"[{table_key}] whole, add {REPLACE_KEY} = true to it")
    out = RecipeError(error.reason + hint, file=error.file, key=error.key)
    out.root_cause = error.root_cause
    return out


def recipe_errors(recipe: Recipe) -> list[RecipeError]:
    """Every problem found in ``recipe``; empty when it is valid."""
    from ._registry import check

    errors = _structure_errors(recipe.data, recipe.file)
    errors += value_errors(recipe.data, recipe.file)
    for ref in component_tables(recipe.data):
        found = check(ref.kind, ref.table, key=ref.key, file=recipe.file, injected=ref.injected)
        errors += [_inherited_hint(e, ref.key) for e in found] if len(recipe.sources) > 1 else found
    errors += _pipelines_errors(recipe.data, recipe.file)
    if importlib.util.find_spec("zelda_core._engine.validate") is not None:
        from ._engine.validate import train_errors  # the engine checks [train] itself

        errors += train_errors(recipe)
    from ._input_spec import input_spec_errors  # values that contradict the model's input

    errors += input_spec_errors(recipe.data, recipe.file)
    return errors


def validate_recipe(recipe: Recipe) -> None:
    """Raise one RecipeError listing every problem of ``recipe``."""
    errors = sorted(recipe_errors(recipe), key=lambda e: not getattr(e, "root_cause", False))
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise RecipeError(f"{len(errors)} problems:\n" + "\n".join(f"- {e}" for e in errors))
