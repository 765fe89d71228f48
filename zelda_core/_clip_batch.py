"""The loader's batch as every model sees it: uint8 (B, V, C, T, H, W) clips in, one
score row per view out.

The loader hands models uint8 clips (a quarter of the float bytes across the host/device
boundary); a model's first step casts and normalizes them on its own device
(:class:`Normalize`), scoring each of the V views; training repeats each sample's label
per view (:func:`view_labels`), :func:`targets_loss` is the loss every bundled model computes
(class indices or soft targets; softmax or multi-label), and prediction averages the views
(:func:`average_views`).
Plugins use these through ``zelda_core.api`` (torch is imported only when they do).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
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
    """(B,) labels or (B, K) target rows on ``device``, each repeated for its sample's
    ``views`` score rows."""
    labels = labels.to(device, non_blocking=True)
    return labels.repeat_interleave(views, dim=0) if views > 1 else labels


def targets_loss(
    scores: torch.Tensor,
    targets: torch.Tensor,
    *,
    multi_label: bool = False,
    label_smoothing: float = 0.0,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """The loss of (N, K) ``scores`` against the model contract's targets, in float32.

    ``targets``: int64 (N,) class indices or float (N, K) rows. Single-label: indices give
    cross-entropy, rows (distributions summing to 1: mixup, cutmix, label smoothing) give
    the soft cross-entropy ``-(t * log_softmax(s)).sum(-1).mean()``. ``multi_label``:
    binary cross-entropy with logits against multi-hot (or soft, in [0, 1]) rows; indices
    are turned into one-hot rows. ``weight``: (K,) per-class weights (torch's ``weight``
    of ``cross_entropy``, ``pos_weight`` of the BCE). ``label_smoothing`` smooths class
    indices only (soft targets already carry what the engine folded into them)."""
    scores = scores.float()
    if weight is not None:
        weight = weight.to(scores.device, torch.float32)
    if multi_label:
        if not targets.is_floating_point():
            targets = F.one_hot(targets.long(), scores.shape[-1])
        return F.binary_cross_entropy_with_logits(scores, targets.to(scores.dtype), pos_weight=weight)
    if targets.is_floating_point():
        if targets.shape != scores.shape:
            raise ValueError(f"soft targets {tuple(targets.shape)} do not match the scores "
                             f"{tuple(scores.shape)}: expected (N, K) rows")
        logp = F.log_softmax(scores, dim=-1)
        t = targets.to(scores.dtype)
        if weight is not None:
            t = t * weight
        return -(t * logp).sum(dim=-1).mean()
    return F.cross_entropy(scores, targets, weight=weight, label_smoothing=label_smoothing)


def average_views(scores: torch.Tensor, views: int, average_clips: str,
                  multi_label: bool = False) -> torch.Tensor:
    """(B*V, K) scores -> (B, K) in float32: the mean of the views' probabilities
    (``average_clips="prob"``) or of their raw scores (``"score"``). ``multi_label``: the
    mean of the views' sigmoids, whatever ``average_clips`` says (per-class probabilities,
    which ``zelda predict``'s threshold reads)."""
    scores = scores.float().view(-1, views, scores.shape[-1])
    if multi_label:
        return scores.sigmoid().mean(dim=1)
    if average_clips == "prob":
        return scores.softmax(dim=-1).mean(dim=1)
    return scores.mean(dim=1)
