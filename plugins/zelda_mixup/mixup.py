"""Mixup and cutmix of a training batch with the semantics of timm's ``Mixup``
(``timm/data/mixup.py``: ``Mixup``, ``rand_bbox``, ``rand_bbox_minmax``,
``cutmix_bbox_and_lam``, ``mixup_target``).

The same draws in the same order as timm, from the generator the engine gives (seeded by
the run's seed, epoch, step and rank) instead of numpy's global one:

- ``mode = "batch"``: one ``lam`` for the whole batch; with probability ``prob`` a mix
  happens at all, then cutmix with probability ``switch_prob`` when both are on. ``lam ~
  Beta(alpha, alpha)`` of the chosen kind;
- ``"elem"``: one draw per sample; ``"pair"``: one per pair (i, B-1-i), both mixed;
- sample i is mixed with sample ``B-1-i`` (the batch flipped), and its target row becomes
  ``lam_i * t_i + (1 - lam_i) * t_{B-1-i}``, so label smoothing (folded into the rows by
  the engine) gives timm's ``mixup_target`` exactly;
- cutmix's box: ``rand_bbox`` (a ``sqrt(1 - lam)`` share of each side, centred on a
  uniform point, clipped to the frame) or, with ``cutmix_minmax``, ``rand_bbox_minmax``;
  one box per clip, the same in every frame, view and channel; ``lam`` is then corrected
  to ``1 - box area / frame area`` (timm's ``correct_lam``, always on here).

Clips stay uint8: a mixup blend is computed in float32 and rounded to the nearest integer,
as timm's ``FastCollateMixup`` does. An odd batch is allowed (timm asserts an even one):
in "batch" and "elem" modes the middle sample is mixed with itself (it stays as it is),
in "pair" mode it has no partner and is left alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

Box = tuple[int, int, int, int]
"""(y_low, y_high, x_low, x_high): rows ``y_low:y_high`` and columns ``x_low:x_high``."""


def rand_bbox(height: int, width: int, lam: float, rng: np.random.Generator) -> Box:
    """timm's ``rand_bbox`` (margin 0): a box of ``sqrt(1 - lam)`` of each side around a
    uniform centre, clipped to the frame."""
    ratio = math.sqrt(1 - lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy, cx = int(rng.integers(0, height)), int(rng.integers(0, width))
    yl, yh = min(max(cy - cut_h // 2, 0), height), min(max(cy + cut_h // 2, 0), height)
    xl, xh = min(max(cx - cut_w // 2, 0), width), min(max(cx + cut_w // 2, 0), width)
    return yl, yh, xl, xh


def rand_bbox_minmax(height: int, width: int, minmax: Sequence[float], rng: np.random.Generator) -> Box:
    """timm's ``rand_bbox_minmax``: each side a uniform share in [min, max) of the
    frame's, placed uniformly inside it."""
    cut_h = _integer(rng, int(height * minmax[0]), int(height * minmax[1]))
    cut_w = _integer(rng, int(width * minmax[0]), int(width * minmax[1]))
    yl, xl = _integer(rng, 0, height - cut_h), _integer(rng, 0, width - cut_w)
    return yl, yl + cut_h, xl, xl + cut_w


def _integer(rng: np.random.Generator, low: int, high: int) -> int:
    """A uniform integer in [low, high); ``low`` when the range is empty (a frame so small
    that min and max round to the same side, where timm's numpy call fails)."""
    return int(rng.integers(low, high)) if high > low else low


class Mixup:
    """Mixup and/or cutmix of a training batch (timm's ``Mixup``; see the module docstring).

    ``mixup_alpha``/``cutmix_alpha``: Beta(alpha, alpha) parameters, a kind is on when its
    alpha is > 0; ``cutmix_minmax``: [min, max] shares of each side for the box instead of
    alpha (turns cutmix on with alpha 1.0, as timm does); ``prob``: probability that a
    batch (or sample, or pair) is mixed at all; ``switch_prob``: probability of cutmix
    instead of mixup when both are on; ``mode``: one draw per "batch", "pair" or "elem".
    Label smoothing is ``train.label_smoothing`` (the engine folds it into the targets).
    """

    def __init__(
        self,
        mixup_alpha: float = 1.0,
        cutmix_alpha: float = 0.0,
        cutmix_minmax: list[float] | None = None,
        prob: float = 1.0,
        switch_prob: float = 0.5,
        mode: Literal["batch", "pair", "elem"] = "batch",
    ):
        for name, value in (("mixup_alpha", mixup_alpha), ("cutmix_alpha", cutmix_alpha)):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0 (0 turns it off), got {value}")
        for name, value in (("prob", prob), ("switch_prob", switch_prob)):
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if mode not in ("batch", "pair", "elem"):
            raise ValueError(f"mode must be 'batch', 'pair' or 'elem', got {mode!r}")
        if cutmix_minmax is not None:
            if len(cutmix_minmax) != 2 or not 0 < cutmix_minmax[0] < cutmix_minmax[1] <= 1:
                raise ValueError("cutmix_minmax must be [min, max] with 0 < min < max <= 1 "
                                 f"(shares of each side of the frame), got {list(cutmix_minmax)}")
            cutmix_alpha = 1.0  # as timm: the box comes from minmax, alpha only switches it on
        if mixup_alpha <= 0 and cutmix_alpha <= 0:
            raise ValueError("nothing to do: set mixup_alpha > 0, cutmix_alpha > 0 or cutmix_minmax")
        self.mixup_alpha, self.cutmix_alpha = float(mixup_alpha), float(cutmix_alpha)
        self.cutmix_minmax = None if cutmix_minmax is None else tuple(float(v) for v in cutmix_minmax)
        self.prob, self.switch_prob, self.mode = float(prob), float(switch_prob), mode

    def __repr__(self) -> str:
        return (f"Mixup(mixup_alpha={self.mixup_alpha}, cutmix_alpha={self.cutmix_alpha}, "
                f"cutmix_minmax={self.cutmix_minmax}, prob={self.prob}, "
                f"switch_prob={self.switch_prob}, mode={self.mode!r})")

    # -- the draws (timm's _params_per_batch / _params_per_elem, in its order) --------

    def _params_per_batch(self, rng: np.random.Generator) -> tuple[float, bool]:
        lam, use_cutmix = 1.0, False
        if rng.random() < self.prob:
            if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
                use_cutmix = bool(rng.random() < self.switch_prob)
                lam = (rng.beta(self.cutmix_alpha, self.cutmix_alpha) if use_cutmix
                       else rng.beta(self.mixup_alpha, self.mixup_alpha))
            elif self.mixup_alpha > 0:
                lam = rng.beta(self.mixup_alpha, self.mixup_alpha)
            else:
                use_cutmix = True
                lam = rng.beta(self.cutmix_alpha, self.cutmix_alpha)
        return float(lam), use_cutmix

    def _params_per_elem(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        use_cutmix = np.zeros(n, dtype=bool)
        if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
            use_cutmix = rng.random(n) < self.switch_prob
            lam_mix = np.where(use_cutmix, rng.beta(self.cutmix_alpha, self.cutmix_alpha, size=n),
                               rng.beta(self.mixup_alpha, self.mixup_alpha, size=n))
        elif self.mixup_alpha > 0:
            lam_mix = rng.beta(self.mixup_alpha, self.mixup_alpha, size=n)
        else:
            use_cutmix = np.ones(n, dtype=bool)
            lam_mix = rng.beta(self.cutmix_alpha, self.cutmix_alpha, size=n)
        lam = np.where(rng.random(n) < self.prob, lam_mix.astype(np.float32), np.ones(n, np.float32))
        return lam, use_cutmix

    def _box(self, height: int, width: int, lam: float, rng: np.random.Generator) -> tuple[Box, float]:
        """timm's ``cutmix_bbox_and_lam``: the box, and lam corrected to its exact area."""
        if self.cutmix_minmax is not None:
            box = rand_bbox_minmax(height, width, self.cutmix_minmax, rng)
        else:
            box = rand_bbox(height, width, lam, rng)
        yl, yh, xl, xh = box
        return box, 1.0 - (yh - yl) * (xh - xl) / float(height * width)

    def draw(self, batch: int, height: int, width: int,
             rng: np.random.Generator) -> tuple[np.ndarray, list[Box | None]]:
        """Per sample: ``lam`` (float64, exact box area for cutmix) and its cutmix box
        (None for a blend or no mix). Sample i's partner is sample ``batch - 1 - i``."""
        lam = np.ones(batch)
        boxes: list[Box | None] = [None] * batch
        if self.mode == "batch":
            value, use_cutmix = self._params_per_batch(rng)
            if value != 1.0:
                if use_cutmix:
                    box, value = self._box(height, width, value, rng)
                    boxes = [box] * batch
                lam[:] = value
            return lam, boxes
        n = batch // 2 if self.mode == "pair" else batch
        lam_n, use_cutmix = self._params_per_elem(n, rng)
        for i in range(n):
            value = float(lam_n[i])
            if value != 1.0:
                if use_cutmix[i]:
                    boxes[i], value = self._box(height, width, value, rng)
                    if self.mode == "pair":
                        boxes[batch - 1 - i] = boxes[i]
                lam[i] = value
                if self.mode == "pair":
                    lam[batch - 1 - i] = value
        return lam, boxes

    # -- applying them -------------------------------------------------------------------

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Mix uint8 (B, V, C, T, H, W) ``inputs`` and float (B, K) ``targets``."""
        batch, height, width = inputs.shape[0], inputs.shape[-2], inputs.shape[-1]
        lam, boxes = self.draw(batch, height, width, rng)
        if batch == 0 or bool((lam == 1.0).all()):
            return inputs, targets
        blend = [lam[i] != 1.0 and boxes[i] is None for i in range(batch)]
        if any(blend):
            # one float pass over the batch: lerp(partner, x, w) = w * x + (1 - w) * partner,
            # w = 1 (the clip itself, exactly) where a sample is not blended
            w = torch.as_tensor(np.where(blend, lam, 1.0), dtype=torch.float32, device=inputs.device)
            x = inputs.float()
            mixed = x.flip(0)
            mixed.lerp_(x, w.view(-1, *([1] * (inputs.dim() - 1))))
            out = mixed.round_().to(inputs.dtype)
        else:
            out = inputs.clone()
        for i, box in enumerate(boxes):  # the same box in every view, channel and frame
            if box is not None:
                yl, yh, xl, xh = box
                out[i, ..., yl:yh, xl:xh] = inputs[batch - 1 - i, ..., yl:yh, xl:xh]
        w = torch.as_tensor(lam, dtype=targets.dtype, device=targets.device).unsqueeze(1)
        return out, targets * w + targets.flip(0) * (1 - w)


def cutmix(
    cutmix_alpha: float = 1.0,
    cutmix_minmax: list[float] | None = None,
    prob: float = 1.0,
    mode: Literal["batch", "pair", "elem"] = "batch",
) -> Mixup:
    """Cutmix alone: timm's ``Mixup`` with ``mixup_alpha = 0`` (see :class:`Mixup`)."""
    return Mixup(mixup_alpha=0.0, cutmix_alpha=cutmix_alpha, cutmix_minmax=cutmix_minmax,
                 prob=prob, mode=mode)
