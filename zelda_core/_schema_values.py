"""Recipe checks beyond the signatures: what ``run`` would reject later, ``recipe check``
rejects now.

- the recipe is not empty (a partial recipe, e.g. one that others extend, is fine);
- ``seed`` is an int in ``[0, 2**63)`` (not a bool, float or string);
- a split's ``pipeline`` is a list of tables, and each transform is *built*: its
  constructor's own checks (a zero ``clip_len``, a negative crop or resize, a frame count
  that implies gigabytes) run at check time. Transforms are cheap to build and touch no
  file; datasets and models are not built here (they read files or allocate weights);
- ``num_classes`` anywhere in ``[model]`` or a split table is >= 1.
"""

from __future__ import annotations

import math
from typing import Any

from ._errors import RecipeError, ZeldaError
from ._recipe_tables import AUTO_DECODER

MAX_SEED = 2**63
"""Seeds must fit torch's and numpy's seeding (``SeedSequence`` takes any size; torch
wraps above 2**64)."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def value_errors(data: dict[str, Any], file: str | None) -> list[RecipeError]:
    """Every problem of the kinds listed in the module docstring."""
    errors: list[RecipeError] = []
    if not data:
        return [RecipeError("the recipe is empty; it needs at least [data] with a split such as "
                            "[data.train], and [model] (see recipes/kinetics_tiny.toml)", file=file)]
    if "seed" in data:
        seed = data["seed"]
        if not _is_int(seed) or not 0 <= seed < MAX_SEED:
            errors.append(RecipeError(f"expects an integer in [0, 2**63), got {type(seed).__name__} "
                                      f"{seed!r}", file=file, key="seed"))
    if "work_dir" in data and not (isinstance(data["work_dir"], str) and data["work_dir"].strip()):
        errors.append(RecipeError(f"expects a folder path (a non-empty string), got "
                                  f"{type(data['work_dir']).__name__} {data['work_dir']!r}",
                                  file=file, key="work_dir"))
    errors += _lr_errors(data.get("train"), file)
    tables = data.get("data")
    if isinstance(tables, dict) and tables.get("decoder") == AUTO_DECODER:
        errors.append(auto_decoder_error(file))
    splits = {k: v for k, v in tables.items() if isinstance(v, dict) and "type" in v} \
        if isinstance(tables, dict) else {}
    for split, table in splits.items():
        errors += _pipeline_errors(table.get("pipeline", []), f"data.{split}.pipeline", file)
        errors += _num_classes_errors(table, f"data.{split}", file)
    if isinstance(data.get("model"), dict):
        errors += _num_classes_errors(data["model"], "model", file)
    return errors


def auto_decoder_error(file: str | None) -> RecipeError:
    """``data.decoder = "auto"`` outside ``zelda bench train``: what to do instead."""
    return RecipeError(
        '"auto" is chosen by measurement: run `zelda bench train RECIPE` (it measures the '
        "installed decoders' loader supply on this recipe and names the cheapest), then set "
        "data.decoder to that name; a run and its resumes must decode with one backend",
        file=file, key="data.decoder")


def _lr_errors(train: Any, file: str | None) -> list[RecipeError]:
    """``train.optimizer.lr``: a finite number >= 0 (torch's own message for a string is
    a comparison error, and NaN or a negative rate would train nothing)."""
    optimizer = train.get("optimizer") if isinstance(train, dict) else None
    if not isinstance(optimizer, dict) or "lr" not in optimizer:
        return []
    lr = optimizer["lr"]
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr < 0:
        return [RecipeError(f"expects a finite number >= 0, got {type(lr).__name__} {lr!r}",
                            file=file, key="train.optimizer.lr")]
    return []


def _num_classes_errors(table: dict[str, Any], key: str, file: str | None) -> list[RecipeError]:
    errors = []
    n = table.get("num_classes")
    if _is_int(n) and n < 1:
        errors.append(RecipeError(f"must be >= 1, got {n} (leave it out to take the count from "
                                  "the data)", file=file, key=f"{key}.num_classes"))
    for name, value in table.items():
        if isinstance(value, dict) and name != "pipeline":
            errors += _num_classes_errors(value, f"{key}.{name}", file)
    return errors


def _pipeline_errors(steps: Any, key: str, file: str | None) -> list[RecipeError]:
    """A pipeline must be a list of tables; each valid table is built once."""
    from ._registry import build, check

    if not isinstance(steps, list):
        return [RecipeError(f"expects a list of transform tables like [{{ type = \"decode\" }}, ...], "
                            f"got {type(steps).__name__} {steps!r}", file=file, key=key)]
    errors: list[RecipeError] = []
    for i, step in enumerate(steps):
        if check("transforms", step, key=f"{key}[{i}]", file=file):
            continue  # reported with the other signature problems
        try:
            build("transforms", step, key=f"{key}[{i}]", file=file)
        except ZeldaError as exc:
            errors.append(exc if isinstance(exc, RecipeError) else RecipeError(str(exc), file=file,
                                                                             key=f"{key}[{i}]"))
        except (TypeError, ValueError, OverflowError) as exc:  # a constructor without its own message
            errors.append(RecipeError(f"{type(exc).__name__}: {exc}", file=file, key=f"{key}[{i}]"))
    return errors
