"""Opening and decoding videos with the recipe's decoder.

``init`` opens the video (``reader``, ``total_frames``, ``avg_fps``); ``decode`` reads
``frame_inds`` with one ``get_frames`` call for all clips (the decoder sorts and
de-duplicates, so overlapping clips cost one decode) and closes the reader. When a
``resize`` directly follows ``decode`` the pipeline fuses them: the decoder scales while
converting to RGB and the resize step disappears (see ``zelda_core._pipeline``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zelda_core.api import DecodeError


def _decoder_spec(sample: dict[str, Any]) -> dict[str, Any]:
    spec = sample.get("decoder") or {"type": "pyav"}
    if isinstance(spec, str):
        spec = {"type": spec}
    return dict(spec)


def open_reader(sample: dict[str, Any]) -> Any:
    """Open ``sample["filename"]`` with ``sample["decoder"]`` and record its metadata."""
    from zelda_core.api import open_video

    spec = _decoder_spec(sample)
    name = spec.pop("type", "pyav")
    reader = open_video(sample["filename"], name, **spec)
    total = int(reader.num_frames)
    if total <= 0:
        reader.close()
        raise DecodeError(sample["filename"], "the video has no decodable frame")
    sample["reader"] = reader
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

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        if sample.get("reader") is None:
            open_reader(sample)
        return sample


class Decode:
    """Decode ``frame_inds`` into ``imgs`` (N, H, W, 3) uint8 RGB and close the reader.

    ``size`` (int short side or ``[h, w]``) asks the decoder to scale while converting;
    the pipeline sets it when it fuses a following ``resize``.
    """

    def __init__(self) -> None:
        self.resize: Any = None  # a fused Resize (its target_size(h, w) gives the size)

    def fuse_resize(self, resize: Any) -> None:
        """Let the decoder do ``resize``'s work (called by the Pipeline)."""
        self.resize = resize

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        reader = sample.get("reader")
        if reader is None:
            reader = open_reader(sample)
        try:
            inds = np.asarray(sample["frame_inds"], dtype=np.int64)
            size = None
            if self.resize is not None:
                size = self.resize.target_size(int(reader.height), int(reader.width))
            imgs = reader.get_frames(inds, size=size)
        finally:
            reader.close()
            sample["reader"] = None
        if len(imgs) != len(inds):
            raise DecodeError(sample["filename"],
                              f"asked {len(inds)} frames, the decoder returned {len(imgs)}")
        sample["imgs"] = imgs
        sample["original_shape"] = sample.get("original_shape", imgs.shape[1:3])
        sample["img_shape"] = tuple(imgs.shape[1:3])
        if self.resize is not None:
            self.resize.record(sample)
        return sample
