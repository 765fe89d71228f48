"""The ``[data]`` table's own keys (split tables aside): their schema and checks.

``DataConfig``'s annotations are the schema; ``zelda_core._params`` checks a recipe's
``[data]`` against them, the same checker every component table goes through.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from .._errors import RecipeError
from .._params import param_problems


@dataclass
class DataConfig:
    """Every key of ``[data]`` other than the split tables (``[data.train]`` ...)."""

    root: str | None = None
    decoder: str | None = None
    decoder_options: dict[str, Any] | None = None
    batch_size: int = 1
    workers: int | Literal["auto"] = 0
    persistent_workers: bool = False
    prefetch: int | None = None
    on_error: Literal["raise", "skip"] = "raise"
    drop_last: bool = False
    pin_memory: bool | Literal["auto"] = "auto"
    prefetch_across_epochs: bool | Literal["auto"] = "auto"
    device_tail: bool | Literal["auto"] = "auto"
    repeated_augmentation: int = 1
    class_balance: Literal["inverse_frequency"] | list[float] | dict[str, float] | None = None


def data_errors(data: dict[str, Any], file: str | None) -> list[RecipeError]:
    """Every problem with ``[data]``'s own keys; split tables are checked as datasets."""
    known = {f.name for f in fields(DataConfig)}
    own = {k: v for k, v in data.items() if k in known or not isinstance(v, dict)}
    errors = [RecipeError(sentence, file=file, key=f"data.{key}")
              for key, sentence in param_problems(DataConfig, own)]
    for key, value in data.items():
        if key not in known and isinstance(value, dict) and "type" not in value:
            errors.append(RecipeError(
                f"the split table [data.{key}] has no 'type'; set type to a dataset "
                "(zelda plugins lists them)", file=file, key=f"data.{key}"))
    for key in ("batch_size", "prefetch"):
        value = own.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            errors.append(RecipeError(f"must be >= 1, got {value}", file=file, key=f"data.{key}"))
    repeats = own.get("repeated_augmentation")
    if isinstance(repeats, int) and not isinstance(repeats, bool) and not 1 <= repeats <= 64:
        errors.append(RecipeError(f"must be in [1, 64] (copies of each video per epoch), got "
                                  f"{repeats}", file=file, key="data.repeated_augmentation"))
    balance = own.get("class_balance")
    values = balance if isinstance(balance, list) else (
        list(balance.values()) if isinstance(balance, dict) else [])
    if any(isinstance(v, (int, float)) and not isinstance(v, bool) and not 0 <= v < float("inf")
           for v in values) or (values and not any(isinstance(v, (int, float)) and v > 0 for v in values)):
        errors.append(RecipeError("class weights must be finite and >= 0, not all 0",
                                  file=file, key="data.class_balance"))
    workers = own.get("workers")
    if isinstance(workers, int) and not isinstance(workers, bool) and workers < 0:
        errors.append(RecipeError(f"must be >= 0, got {workers}", file=file, key="data.workers"))
    return errors
