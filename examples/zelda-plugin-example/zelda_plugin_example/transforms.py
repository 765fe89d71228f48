"""A transform working on one sample dict, the way zelda's own transforms do."""

from __future__ import annotations

from typing import Any

import numpy as np


class TemporalReverse:
    """Reverse the frame order inside each clip of ``sample["imgs"]`` with probability ``p``."""

    def __init__(self, p: float = 1.0):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        rng = sample.get("rng") or np.random.default_rng()
        if self.p < 1.0 and rng.random() >= self.p:
            return sample
        imgs = sample["imgs"]
        clip_len = int(sample.get("clip_len", len(imgs)))
        clips = imgs.reshape(-1, clip_len, *imgs.shape[1:])
        sample["imgs"] = np.ascontiguousarray(clips[:, ::-1]).reshape(imgs.shape)
        return sample
