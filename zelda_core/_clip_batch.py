"""The loader's batch as every model sees it: uint8 (B, V, C, T, H, W) clips in, one
score row per view out.

The loader hands models uint8 clips (a quarter of the float bytes across the host/device
boundary); a model's first step casts and normalizes them on its own device
(:class:`Normalize`), scoring each of the V views; training repeats each sample's label
per view (:func:`view_labels`) and prediction averages the views (:func:`average_views`).
Plugins use these through ``zelda_core.api`` (torch is imported only when they do).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

_KINETICS_MEAN = (123.675, 116.28, 103.53)
_KINETICS_STD = (58.395, 57.12, 57.375)


class Normalize(nn.Module):
    """Data preprocessor: uint8 (B, V, C, T, H, W) -> normalized float (B*V, C, T, H, W).

    The cast and normalization run on the model's device (the uint8 batch is what crosses
    the host/device boundary, a quarter of the float bytes). ``mean``/``std`` are on the
    0-255 scale, one value per channel. ``channels_last`` returns a channels_last_3d tensor
    (the engine switches it on together with the model's memory format).
    """

    def __init__(
        self,
        mean: Sequence[float] = _KINETICS_MEAN,
        std: Sequence[float] = _KINETICS_STD,
        channels_last: bool = False,
    ):
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"mean has {len(mean)} values but std has {len(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"std values must be positive, got {list(std)}")
        view = (1, -1, 1, 1, 1)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(view), False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(view), False)
        self.channels_last = channels_last

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.dim() == 5:  # (B, C, T, H, W): a single view
            inputs = inputs.unsqueeze(1)
        if inputs.dim() != 6:
            raise ValueError(
                f"expected inputs of shape (B, V, C, T, H, W), got {tuple(inputs.shape)}"
            )
        if inputs.shape[2] != self.mean.shape[1]:
            raise ValueError(
                f"inputs have {inputs.shape[2]} channels but mean/std have {self.mean.shape[1]}"
            )
        x = inputs.to(self.mean.device, non_blocking=True)
        x = x.flatten(0, 1).float()
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return x


def num_views(inputs: torch.Tensor) -> int:
    """V of a (B, V, C, T, H, W) batch; 1 for a single-view (B, C, T, H, W) one."""
    return inputs.shape[1] if inputs.dim() == 6 else 1


def view_labels(labels: torch.Tensor, views: int, device: torch.device) -> torch.Tensor:
    """(B,) labels on ``device``, each repeated for its sample's ``views`` score rows."""
    labels = labels.to(device, non_blocking=True)
    return labels.repeat_interleave(views) if views > 1 else labels


def average_views(scores: torch.Tensor, views: int, average_clips: str) -> torch.Tensor:
    """(B*V, K) scores -> (B, K) in float32: the mean of the views' probabilities
    (``average_clips="prob"``) or of their raw scores (``"score"``)."""
    scores = scores.float().view(-1, views, scores.shape[-1])
    if average_clips == "prob":
        return scores.softmax(dim=-1).mean(dim=1)
    return scores.mean(dim=1)
