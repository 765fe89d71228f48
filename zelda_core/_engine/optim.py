"""Optimizer, LR scheduler and linear warmup from the recipe's ``[train]`` table."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from .._errors import RecipeError


def _cls(module: Any, name: str, key: str) -> type:
    cls = getattr(module, name, None)
    if not inspect.isclass(cls):
        raise RecipeError(f"unknown type {name!r}: use a class of {module.__name__}", key=key)
    return cls


def build_optimizer(model: torch.nn.Module, table: dict[str, Any],
                    groups: list[dict[str, Any]] | None = None) -> torch.optim.Optimizer:
    """Any ``torch.optim`` class: ``{type = "Adam", lr = 0.01, ...}`` over trainable params,
    or over ``groups`` (parameter groups with their own lr/weight_decay) when given."""
    params = {k: v for k, v in table.items() if k != "type"}
    cls = _cls(torch.optim, table["type"], "train.optimizer.type")
    for k, v in params.items():
        if isinstance(v, list):  # TOML arrays for betas etc.
            params[k] = tuple(v)
    try:
        return cls(groups if groups is not None else [p for p in model.parameters() if p.requires_grad],
                   **params)
    except (TypeError, ValueError) as exc:
        raise RecipeError(f"{table['type']}: {exc}", key="train.optimizer") from None


class Scheduler:
    """A torch LR scheduler stepped per epoch or per optimizer step (``interval``).

    Missing lengths are filled in from the run: ``T_max`` (CosineAnnealingLR) and
    ``total_iters`` (LinearLR, PolynomialLR, ConstantLR) in epochs or steps to match the
    interval, ``total_steps`` (OneCycleLR, interval 'iter' implied).
    ReduceLROnPlateau steps after each validation on the best metric.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, table: dict[str, Any], *,
                 epochs: int, steps_per_epoch: int):
        params = {k: v for k, v in table.items() if k not in ("type", "interval")}
        cls = _cls(torch.optim.lr_scheduler, table["type"], "train.scheduler.type")
        self.interval = table.get("interval", "iter" if cls.__name__ == "OneCycleLR" else "epoch")
        self.plateau = cls.__name__ == "ReduceLROnPlateau"
        length = epochs if self.interval == "epoch" else epochs * steps_per_epoch
        sig = inspect.signature(cls)
        if "T_max" in sig.parameters and "T_max" not in params:
            params["T_max"] = length
        if cls.__name__ in ("LinearLR", "PolynomialLR", "ConstantLR") and "total_iters" not in params:
            params["total_iters"] = length
        if "total_steps" in sig.parameters and "total_steps" not in params and "epochs" not in params:
            params["total_steps"] = epochs * steps_per_epoch
        for k, v in params.items():
            if isinstance(v, list) and k in ("betas",):
                params[k] = tuple(v)
        try:
            self.scheduler = cls(optimizer, **params)
        except (TypeError, ValueError) as exc:
            raise RecipeError(f"{table['type']}: {exc}", key="train.scheduler") from None

    def step_iter(self) -> None:
        if self.interval == "iter" and not self.plateau:
            self.scheduler.step()

    def step_epoch(self, metric: float | None = None) -> None:
        if self.plateau:
            if metric is not None:
                self.scheduler.step(metric)
        elif self.interval == "epoch":
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state)


class Warmup:
    """Linear warmup: the LR is scaled from ``start_factor`` to 1 over the first ``iters``
    optimizer steps, on top of whatever the scheduler says (the scheduler itself never
    sees the scaled value, so it composes with any scheduler and resumes exactly)."""

    def __init__(self, table: dict[str, Any] | None, steps_per_epoch: int):
        table = table or {}
        if "epochs" in table:
            self.iters = max(1, round(table["epochs"] * steps_per_epoch))
        else:
            self.iters = int(table.get("iters", 0))
        self.start_factor = float(table.get("start_factor", 0.001))

    def factor(self, step: int) -> float:
        """LR multiplier for optimizer step ``step`` (0-based)."""
        if step >= self.iters:
            return 1.0
        return self.start_factor + (1.0 - self.start_factor) * step / self.iters
