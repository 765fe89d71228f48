"""Shape the frames for the model and pack the sample into a tensor plus metadata."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, Literal

import numpy as np

from zelda_core.api import DeferredFrames

DEFAULT_META_KEYS = ("filename", "label", "index", "total_frames", "img_shape", "original_shape",
                     "num_clips", "clip_len", "frame_interval", "flip", "rand_augment",
                     "trivial_augment", "color_jitter", "grayscale", "random_erasing")


class FormatShape:
    """(V*num_clips*T, H, W, C) frames -> (V', C, T, H, W) with V' = crops x clips.

    ``NCTHW`` as MMAction2's ``FormatShape``: crop-major, then clip. No normalization
    (the model's preprocessor normalizes on the device). ``NCHW`` gives (N, C, H, W)
    frames for 2D models. The result is a view; ``pack`` makes it contiguous once.
    """

    needs = ("imgs", "clip_len", "num_clips")  # sample keys read (zelda checks the pipeline"s order)
    adds = ("input_shape",)

    def __init__(self, input_format: Literal["NCTHW", "NCHW"] = "NCTHW") -> None:
        if input_format not in ("NCTHW", "NCHW"):
            raise ValueError(f"input_format must be 'NCTHW' or 'NCHW', got {input_format!r}")
        self.input_format = input_format

    deferrable = True  # runs in the device tail (zelda_core._deferred)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        if isinstance(sample["imgs"], DeferredFrames):
            return self._deferred(sample)
        imgs = np.asarray(sample["imgs"])
        if self.input_format == "NCHW":
            sample["imgs"] = imgs.transpose(0, 3, 1, 2)
        else:
            num_clips, clip_len = int(sample["num_clips"]), int(sample["clip_len"])
            if imgs.shape[0] % (num_clips * clip_len):
                raise ValueError(f"{imgs.shape[0]} frames are not a multiple of num_clips x clip_len "
                                 f"= {num_clips} x {clip_len}")
            imgs = imgs.reshape((-1, num_clips, clip_len) + imgs.shape[1:])
            imgs = imgs.transpose(0, 1, 5, 2, 3, 4)
            sample["imgs"] = imgs.reshape((-1,) + imgs.shape[2:])
        sample["input_shape"] = tuple(sample["imgs"].shape)
        return sample

    def _deferred(self, sample: dict[str, Any]) -> dict[str, Any]:
        imgs = sample["imgs"]
        n, h, w, c = imgs.shape
        if self.input_format == "NCHW":
            imgs.then(_nchw, (n, c, h, w), ("format", "NCHW"))
        else:
            num_clips, clip_len = int(sample["num_clips"]), int(sample["clip_len"])
            if n % (num_clips * clip_len):
                raise ValueError(f"{n} frames are not a multiple of num_clips x clip_len "
                                 f"= {num_clips} x {clip_len}")
            views = n // clip_len
            imgs.then(partial(_ncthw, num_clips=num_clips, clip_len=clip_len),
                      (views, c, clip_len, h, w), ("format", "NCTHW", num_clips, clip_len))
        sample["input_shape"] = tuple(imgs.shape)
        return sample


def _nchw(t: Any) -> Any:
    return t.permute(0, 3, 1, 2)


def _ncthw(t: Any, num_clips: int, clip_len: int) -> Any:
    """(V*num_clips*T, H, W, C) -> (V*num_clips, C, T, H, W), as FormatShape's NumPy path."""
    t = t.reshape((-1, num_clips, clip_len) + tuple(t.shape[1:]))
    t = t.permute(0, 1, 5, 2, 3, 4)
    return t.reshape((-1,) + tuple(t.shape[2:]))


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


class Pack:
    """``{"inputs": uint8 tensor, "label": int (a multi-label dataset's multi-hot tensor
    passes unchanged), "meta": {...}}``; the last step.

    ``meta_keys`` lists the sample keys copied into ``meta`` (plain Python values).
    """

    needs = ("imgs", "input_shape")  # sample keys read (zelda checks the pipeline"s order)
    adds = ("inputs", "label", "meta")

    deferrable = True  # DeferredFrames pass to the loader (zelda_core._deferred)

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        import torch

        imgs = sample["imgs"]
        # DeferredFrames stay so: the loader runs their tail when the batch arrives
        inputs = imgs if isinstance(imgs, DeferredFrames) else torch.from_numpy(np.ascontiguousarray(imgs))
        meta = {k: _plain(sample[k]) for k in self.meta_keys if k in sample}
        label = sample.get("label", -1)
        if not (isinstance(label, torch.Tensor) and label.dim() == 1):  # multi-hot rows stay tensors
            label = int(label)
        return {"inputs": inputs, "label": label, "meta": meta}
