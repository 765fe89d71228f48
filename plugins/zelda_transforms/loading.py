"""Opening and decoding videos with the recipe's decoder.

``init`` opens the video (``reader``, ``total_frames``, ``avg_fps``) with the sample's
``opener`` (the dataset's ``VideoOpener``); ``decode`` reads ``frame_inds`` with one
``get_frames`` call for all clips (the decoder sorts and de-duplicates, so overlapping
clips cost one decode). The pipeline closes the reader. ``decode`` declares that it can
absorb a bilinear ``resize`` that directly follows it (``Decode.fuse``): the decoder then
scales while converting to RGB and the resize step disappears.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from zelda_core.api import DecodeError, DeferredFrames

from .geometry import Resize


def open_reader(sample: dict[str, Any]) -> Any:
    """Open ``sample["filename"]`` with ``sample["opener"]`` and record its metadata.

    The reader stays in ``sample["reader"]``; the pipeline closes it when the sample is done.
    """
    opener = sample.get("opener")
    if opener is None:
        raise ValueError("the sample has no 'opener' (a VideoOpener: the dataset sets it; "
                         "build one with zelda_core.api.VideoOpener(decoder_table))")
    reader = sample["reader"] = opener(sample["filename"])
    total = int(reader.num_frames)
    if total <= 0:
        raise DecodeError(sample["filename"], "the video has no decodable frame")
    sample["total_frames"] = total
    sample["avg_fps"] = float(reader.fps or 0.0)
    sample.setdefault("original_shape", (int(reader.height), int(reader.width)))
    return reader


def ensure_reader(sample: dict[str, Any]) -> int:
    """``total_frames`` of the sample, opening the video first if nothing did."""
    if "total_frames" not in sample:
        open_reader(sample)
    return int(sample["total_frames"])


class Init:
    """Open the video with the recipe's decoder; sets ``reader``, ``total_frames``, ``avg_fps``.

    Optional: samplers and ``decode`` open the video themselves when needed.
    """

    needs = ()  # sample keys read (zelda checks the pipeline"s order)
    adds = ("reader", "total_frames", "avg_fps")

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        if sample.get("reader") is None:
            open_reader(sample)
        return sample


class Decode:
    """Decode ``frame_inds`` into ``imgs`` (N, H, W, 3) uint8 RGB.

    Fused with a following bilinear ``resize`` (see :meth:`fuse`), it asks the decoder
    for frames at the resize's target size instead.
    """

    needs = ("frame_inds",)  # sample keys read (zelda checks the pipeline"s order)
    adds = ("imgs", "img_shape", "original_shape", "reader", "total_frames")
    defers_frames = True  # leaves DeferredFrames for the device tail (zelda_core._deferred)

    def __init__(self) -> None:
        self.resize: Resize | None = None  # the resize this step does while decoding

    def fuse(self, step: Any) -> Decode | None:
        """This step doing ``step``'s work too, if ``step`` is a bilinear ``resize``.

        The decoders' own scalers are bilinear; a resize asking for another
        interpolation stays a separate step. ``self`` is left unchanged.
        """
        if self.resize is not None or not isinstance(step, Resize) or not step.fusable:
            return None
        fused = copy.copy(self)
        fused.resize = step
        return fused

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        reader = sample.get("reader")
        if reader is None:
            reader = open_reader(sample)
        inds = np.asarray(sample["frame_inds"], dtype=np.int64)
        if sample.get("defer_tail"):
            return self._deferred(sample, reader, inds)
        size = None
        if self.resize is not None:
            size = self.resize.target_size(int(reader.height), int(reader.width))
        imgs = reader.get_frames(inds, size=size)
        if len(imgs) != len(inds):
            raise DecodeError(sample["filename"],
                              f"asked {len(inds)} frames, the decoder returned {len(imgs)}")
        sample["imgs"] = imgs
        sample["original_shape"] = sample.get("original_shape", imgs.shape[1:3])
        sample["img_shape"] = tuple(imgs.shape[1:3])
        if self.resize is not None:
            self.resize.record(sample)
        return sample

    def _deferred(self, sample: dict[str, Any], reader: Any, inds: np.ndarray) -> dict[str, Any]:
        """The device tail (``data.device_tail``): the frames stay where the decoder left
        them, as DeferredFrames; a fused resize is recorded on them like the next steps'
        pixel work."""
        imgs = DeferredFrames(reader.get_frames_tensor(inds))
        if imgs.shape[0] != len(inds):
            raise DecodeError(sample["filename"],
                              f"asked {len(inds)} frames, the decoder returned {imgs.shape[0]}")
        sample["imgs"] = imgs
        sample["original_shape"] = sample.get("original_shape", imgs.shape[1:3])
        sample["img_shape"] = tuple(imgs.shape[1:3])
        return self.resize(sample) if self.resize is not None else sample
