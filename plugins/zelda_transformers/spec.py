"""The model's declared input (``InputSpec``) from the checkpoint's configs.

The processor config (``preprocessor_config.json`` or ``video_preprocessor_config.json``)
gives mean/std (with its rescale factor and offset, turned into zelda's 0-255 scale), the
resize and the crop; ``config.json`` gives the clip length and the size the network is
built for. zelda's own decoders and transforms then produce exactly that input; the
processor's Python image code never runs.
"""

from __future__ import annotations

from typing import Any

from zelda_core.api import InputSpec

from .archs import ARCHS, Arch


def _side(value: Any) -> int | tuple[int, int] | None:
    """A processor ``size``/``crop_size``: int, {shortest_edge}, {height, width}."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, dict):
        if "shortest_edge" in value:
            return int(value["shortest_edge"])
        if "height" in value and "width" in value:
            h, w = int(value["height"]), int(value["width"])
            return h if h == w else (h, w)
    return None


def normalization(processor: dict[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) on the 0-255 scale that reproduce the processor's rescale (``x *
    rescale_factor - offset``) then normalize (``(v - mean) / std``)."""
    rescale = float(processor.get("rescale_factor", 1 / 255)) if processor.get("do_rescale", True) else 1.0
    offset = 1.0 if processor.get("offset", False) else 0.0
    if processor.get("do_normalize", True):
        mean = [float(m) for m in _three(processor.get("image_mean", [0.0] * 3))]
        std = [float(s) for s in _three(processor.get("image_std", [1.0] * 3))]
    else:
        mean, std = [0.0] * 3, [1.0] * 3
    return (tuple(round((m + offset) / rescale, 4) for m in mean),
            tuple(round(s / rescale, 4) for s in std))


def _three(v: Any) -> list[float]:
    return list(v) * 3 if isinstance(v, (int, float)) else list(v)[:3] if len(v) >= 3 else list(v) * 3


def processor_defaults(arch: Arch | None) -> dict[str, Any]:
    return dict(arch.processor) if arch is not None else {}


def from_configs(config: dict[str, Any], processor: dict[str, Any] | None, *, arch_name: str | None,
                 source: str) -> InputSpec:
    """The InputSpec of a model with ``config`` (``config.json`` or its dict) and
    ``processor`` (None: the architecture's processor defaults)."""
    arch = ARCHS.get(arch_name or "") or ARCHS.get(str(config.get("model_type", "")))
    proc = processor if processor is not None else processor_defaults(arch)
    if processor is None:
        source += " (no processor config: the architecture's processor defaults)"
    if arch is not None and str(config.get("model_type")) == "vivit" and "offset" not in proc:
        proc = {**proc, "offset": True}  # VivitImageProcessor/VideoProcessor: offset=True
    mean, std = normalization(proc)
    frames_key = arch.frames_key if arch else "num_frames"
    size_key = arch.size_key if arch else "image_size"
    frames = config.get(frames_key, config.get("num_frames"))
    size = config.get(size_key, config.get("image_size"))
    crop = _side(proc.get("crop_size")) if proc.get("do_center_crop", True) else None
    if isinstance(crop, tuple):
        crop = None
    if crop is None and isinstance(size, int):
        crop = size
    resize = _side(proc.get("size"))
    if isinstance(resize, tuple) and crop is not None:
        resize = None  # a {height, width} resize before a crop: let the recipe decide
    fixed = bool(arch.fixed_size) if arch is not None else False
    if fixed and isinstance(size, int) and crop != size:
        if isinstance(resize, int) and crop:  # keep the processor's resize-to-crop ratio
            resize = max(size, round(resize * size / crop))
        crop = size  # the network takes exactly image_size; the processor's crop follows it
    return InputSpec(source=source, mean=mean, std=std, resize=resize, crop=crop,
                     frames=int(frames) if isinstance(frames, int) else None, fixed_size=fixed)
