"""Class-balanced sampling: one weight per training sample from ``data.class_balance``."""

from __future__ import annotations

import math
from typing import Any

from .._errors import RecipeError

KEY = "data.class_balance"


def sample_weights(dataset: Any, balance: Any, file: str | None = None) -> list[float]:
    """Each sample's weight: its class's weight (``"inverse_frequency"``: 1 / the class's
    count, so every class is drawn equally often; a list: one weight per class; a table:
    class name -> weight, unnamed classes 1)."""
    if getattr(dataset, "multi_label", False):
        raise RecipeError("class-balanced sampling needs single-label data (this dataset is "
                          "multi-label); remove the key", file=file, key=KEY)
    labels = [int(x) for x in dataset.labels()]
    classes = list(getattr(dataset, "classes", []) or range(max(labels, default=-1) + 1))
    n = len(classes)
    if balance == "inverse_frequency":
        counts = [0] * n
        for label in labels:
            counts[label] += 1
        weights = [1.0 / c if c else 0.0 for c in counts]
    elif isinstance(balance, list):
        if len(balance) != n:
            raise RecipeError(f"gives {len(balance)} weights, but the training data has {n} "
                              f"classes ({', '.join(map(str, classes[:5]))}{' ...' if n > 5 else ''}): "
                              "give one weight per class, in label order", file=file, key=KEY)
        weights = [float(w) for w in balance]
    elif isinstance(balance, dict):
        names = [str(c) for c in classes]
        unknown = [k for k in balance if k not in names]
        if unknown:
            raise RecipeError(f"names classes the training data does not have: "
                              f"{', '.join(map(repr, unknown[:5]))}; its classes are "
                              f"{', '.join(names[:10])}{' ...' if n > 10 else ''}", file=file, key=KEY)
        weights = [float(balance.get(name, 1.0)) for name in names]
    else:
        raise RecipeError(f"must be \"inverse_frequency\", a list of per-class weights or a "
                          f"table class name -> weight, got {balance!r}", file=file, key=KEY)
    per_sample = [weights[label] for label in labels]
    if any(not math.isfinite(w) or w < 0 for w in weights) or not any(w > 0 for w in per_sample):
        raise RecipeError("the weights must be finite, >= 0, and not 0 for every training "
                          "sample", file=file, key=KEY)
    return per_sample
