"""Random erasing with the same boxes on every frame of a sample (timm's RandomErasing)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any, Literal

import numpy as np

from zelda_core.api import DeferredFrames

from .augment import to_tensor

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def _rng(sample: dict[str, Any]) -> np.random.Generator:
    rng = sample.get("rng")
    if rng is None:  # a sample built by hand: still reproducible, never global state
        rng = sample["rng"] = np.random.default_rng(0)
    return rng


def _pair(value: Any, name: str, positive: bool = True) -> tuple[float, float]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            or not 0 < value[0] <= value[1] or (positive and value[0] <= 0)):
        raise ValueError(f"{name} must be [min, max] with 0 < min <= max, got {value!r}")
    return float(value[0]), float(value[1])


def _three(value: Sequence[float], name: str) -> np.ndarray:
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise ValueError(f"{name} must be three numbers (R, G, B, on the 0..255 scale), got {value!r}")
    return np.asarray(value, dtype=np.float64)


class RandomErasing:
    """timm's ``RandomErasing`` (timm/data/random_erasing.py), each box the same on every
    frame of the sample (all clips and views).

    With probability ``p``: ``count`` boxes (an int, or [min, max] drawn uniformly; timm's
    ``min_count``/``max_count``, VideoMAE's ``recount``), each of area uniform in ``scale``
    (a fraction of the frame, divided by the count) and aspect ratio log-uniform in
    ``ratio`` (default [0.3, 1/0.3]); 10 tries per box to fit, as timm. ``mode``: timm's
    ``const`` (zeros after normalization), ``rand`` (one normal colour per box) or
    ``pixel`` (normal noise per pixel, VideoMAE's ``remode``). timm erases normalized
    tensors; zelda's frames are still uint8 here, so the values are mapped back with
    ``mean`` and ``std`` (the model's normalization, ImageNet's by default):
    ``mean + std * z``, rounded and clipped to [0, 255] (``const`` is the mean colour).
    """

    needs = ("imgs",)  # sample keys read (zelda checks the pipeline"s order)
    adds = ("random_erasing",)
    deferrable = True  # runs in the device tail (zelda_core._deferred)

    def __init__(self, p: float = 0.25, mode: Literal["const", "rand", "pixel"] = "const",
                 scale: list[float] = (0.02, 1 / 3), ratio: list[float] | None = None,
                 count: int | list[int] = 1, mean: list[float] = IMAGENET_MEAN,
                 std: list[float] = IMAGENET_STD) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p!r}")
        if mode not in ("const", "rand", "pixel"):
            raise ValueError(f"mode must be 'const', 'rand' or 'pixel' (timm's), got {mode!r}")
        self.p, self.mode = float(p), mode
        self.scale = _pair(list(scale), "scale")
        if self.scale[1] > 1:
            raise ValueError(f"scale is a fraction of the frame's area: at most 1, got {scale!r}")
        self.ratio = (0.3, 1 / 0.3) if ratio is None else _pair(ratio, "ratio")
        counts = [count, count] if isinstance(count, int) and not isinstance(count, bool) else count
        if (not isinstance(counts, (list, tuple)) or len(counts) != 2
                or not all(isinstance(c, int) and not isinstance(c, bool) for c in counts)
                or not 1 <= counts[0] <= counts[1] <= 100):
            raise ValueError(f"count must be an int in [1, 100] or [min, max], got {count!r}")
        self.count = (int(counts[0]), int(counts[1]))
        self.mean, self.std = _three(mean, "mean"), _three(std, "std")

    def make_params(self, rng: np.random.Generator, h: int, w: int) -> list[dict[str, Any]]:
        """The boxes of this sample: ``{"box": [x0, y0, x1, y1], "values": uint8 array}``
        (``values`` broadcasts over the box: (1, 1, 3) or (bh, bw, 3))."""
        if not rng.random() < self.p:
            return []
        lo, hi = self.count
        count = lo if lo == hi else int(rng.integers(lo, hi + 1))
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        boxes = []
        for _ in range(count):
            for _attempt in range(10):
                area = rng.uniform(*self.scale) * h * w / count
                aspect = math.exp(rng.uniform(*log_ratio))
                bh = int(round(math.sqrt(area * aspect)))
                bw = int(round(math.sqrt(area / aspect)))
                if bw < w and bh < h:
                    top = int(rng.integers(0, h - bh + 1))
                    left = int(rng.integers(0, w - bw + 1))
                    boxes.append({"box": [left, top, left + bw, top + bh],
                                  "values": self._values(rng, bh, bw)})
                    break
        return boxes

    def _values(self, rng: np.random.Generator, bh: int, bw: int) -> np.ndarray:
        if self.mode == "pixel":
            z = rng.standard_normal((bh, bw, 3))
        elif self.mode == "rand":
            z = rng.standard_normal((1, 1, 3))
        else:
            z = np.zeros((1, 1, 3))
        return np.clip(np.rint(self.mean + self.std * z), 0, 255).astype(np.uint8)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        imgs = sample["imgs"]
        boxes = self.make_params(_rng(sample), int(imgs.shape[1]), int(imgs.shape[2]))
        if isinstance(imgs, DeferredFrames):
            if boxes:
                imgs.then(partial(_erase, boxes=[(b["box"], b["values"]) for b in boxes]))
            else:
                imgs.noop()
        elif boxes:
            imgs = to_tensor(imgs).numpy()  # a copy: crops and flips are views of the decoded frames
            if np.may_share_memory(imgs, sample["imgs"]):
                imgs = imgs.copy()
            for b in boxes:
                x0, y0, x1, y1 = b["box"]
                imgs[:, y0:y1, x0:x1] = b["values"]
            sample["imgs"] = imgs
        sample["random_erasing"] = [
            {"box": b["box"], "mode": self.mode,
             **({"color": b["values"].reshape(3).tolist()} if b["values"].size == 3 else {})}
            for b in boxes]
        return sample


def _erase(t: Any, boxes: list[tuple[list[int], np.ndarray]]) -> Any:
    """The boxes written into a copy of the frames (N, H, W, 3) on their device."""
    import torch

    t = t.clone(memory_format=torch.contiguous_format)
    for (x0, y0, x1, y1), values in boxes:
        t[:, y0:y1, x0:x1] = torch.from_numpy(values).to(t.device)
    return t
