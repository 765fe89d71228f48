"""``[train.ema]``: an exponential moving average of the weights, beside the trained ones.

Built on ``torch.optim.swa_utils.AveragedModel`` with ``get_ema_multi_avg_fn``: after every
optimizer step, ``ema = decay_t * ema + (1 - decay_t) * weights`` over the parameters and
the buffers (BatchNorm statistics), the first update copying the weights. ``decay_t``
rises linearly from 0 to ``decay`` over the first ``warmup`` updates (early weights are
mostly noise), then stays at ``decay``.

Keys (every one optional):

- ``decay`` (default 0.9998): the per-step decay, in (0, 1);
- ``warmup`` (default 0): optimizer steps over which the decay rises to ``decay``;
- ``use = "ema" | "raw"`` (default "ema"): the weights ``best.pth`` is chosen on and that
  ``zelda test``, ``export``, ``predict`` and ``--init-from`` take from a checkpoint. Both
  are validated, each with its own metrics line (``val`` and ``val_ema`` records).

The average is kept in every checkpoint (``ema``: its weights, the update count and its
settings) and restored by ``--resume``, so a resumed run continues the same average.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch


@dataclass
class EmaConfig:
    """``[train.ema]`` parsed."""

    decay: float = 0.9998
    warmup: int = 0
    use: Literal["ema", "raw"] = "ema"

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> EmaConfig:
        """A ``[train.ema]`` table as ``config.parse_train_config`` checked it."""
        return cls(**{**table, "decay": float(table.get("decay", cls.decay))})


class Ema:
    """The moving average of ``model``'s weights (a copy of the model, on its device)."""

    def __init__(self, model: torch.nn.Module, config: EmaConfig):
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        self.config = config
        self._fn = get_ema_multi_avg_fn
        self.averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.decay), use_buffers=True)
        self.averaged.requires_grad_(False)
        self.averaged.eval()

    @property
    def module(self) -> torch.nn.Module:
        """The averaged model (evaluated like the trained one)."""
        return self.averaged.module

    @property
    def updates(self) -> int:
        return int(self.averaged.n_averaged)

    def decay_at(self, updates: int) -> float:
        """The decay of the update after ``updates`` updates (the warmup ramp)."""
        warmup = self.config.warmup
        return self.config.decay * min(1.0, updates / warmup) if warmup else self.config.decay

    def update(self, model: torch.nn.Module) -> None:
        """One step of the average towards ``model``'s current weights."""
        self.averaged.multi_avg_fn = self._fn(self.decay_at(self.updates))
        self.averaged.update_parameters(model)

    def state_dict(self) -> dict[str, Any]:
        c = self.config
        return {"model": self.module.state_dict(), "updates": self.updates,
                "decay": c.decay, "warmup": c.warmup, "use": c.use}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["model"])
        self.averaged.n_averaged.fill_(int(state["updates"]))

    def restart_from(self, model: torch.nn.Module) -> None:
        """Start the average again at ``model``'s weights (a checkpoint without one)."""
        self.module.load_state_dict(model.state_dict())
        self.averaged.n_averaged.fill_(0)


def chosen_weights(ckpt: dict[str, Any]) -> dict[str, torch.Tensor] | None:
    """The EMA weights of a checkpoint whose run chose them (``train.ema.use = "ema"``),
    else None (the trained weights are the model)."""
    ema = ckpt.get("ema")
    if isinstance(ema, dict) and ema.get("use", "ema") == "ema" and isinstance(ema.get("model"), dict):
        return ema["model"]
    return None
