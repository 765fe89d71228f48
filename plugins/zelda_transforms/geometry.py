"""Geometric transforms on all frames at once: ``imgs`` is a uint8 array (N, H, W, 3).

Crops are slices (views, no copy); only ``resize``, ``three_crop`` and ``ten_crop`` copy.
Sizes follow MMAction2: ``crop_size``/``input_size`` are an int or ``[w, h]``, and
``resize`` accepts MMAction2's ``scale`` as well as zelda's ``size`` (int short side or
``[h, w]``, as ``zelda_core.api.resolve_size``). Random choices use ``sample["rng"]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any, Literal

import numpy as np

from zelda_core.api import DataError, DeferredFrames, resolve_size

Interpolation = Literal["nearest", "bilinear", "bicubic", "area"]


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        pair = (value, value)
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{name} must be an int or [w, h], got {value!r}")
    if min(pair) <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    if max(pair) > MAX_SIDE:
        raise ValueError(f"{name} must be at most {MAX_SIDE} pixels, got {value!r}")
    return pair


MAX_SIDE = 8192
"""The largest crop or resize side a recipe may ask for (a larger one is a typo that would
allocate gigabytes per clip); checked at construction (``zelda recipe check``)."""


def _check_sides(name: str, value: Any, expected: str) -> None:
    """A positive number, or two sides each positive or -1 (not both -1): else ValueError."""
    def bad() -> ValueError:
        return ValueError(f"resize {name} must be {expected}, got {value!r}")

    if isinstance(value, bool):
        raise bad()
    if isinstance(value, (int, float)):
        if not value > 0 or (name == "size" and not isinstance(value, int)):
            raise bad()
        if name == "size" and value > MAX_SIDE:
            raise ValueError(f"resize size must be at most {MAX_SIDE} pixels, got {value!r}")
        return
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        raise bad()
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (v > 0 or v == -1):
            raise bad()
        if name == "size" and v > MAX_SIDE:
            raise ValueError(f"resize size sides must be at most {MAX_SIDE} pixels, got {value!r}")
    if list(value) == [-1, -1]:
        raise bad()


def _rng(sample: dict[str, Any]) -> np.random.Generator:
    rng = sample.get("rng")
    if rng is None:
        rng = sample["rng"] = np.random.default_rng(0)
    return rng


def _shape(sample: dict[str, Any]) -> tuple[int, int]:
    imgs = sample["imgs"]
    return int(imgs.shape[1]), int(imgs.shape[2])


def _deferred(imgs: Any) -> bool:
    """Whether ``imgs`` are DeferredFrames (the device tail records the pixel work)."""
    return isinstance(imgs, DeferredFrames)


def _crop(sample: dict[str, Any], x: int, y: int, w: int, h: int, what: str) -> dict[str, Any]:
    img_h, img_w = _shape(sample)
    if x < 0 or y < 0 or x + w > img_w or y + h > img_h:
        raise DataError(
            f"{sample.get('filename', '?')}: {what} {w}x{h} at ({x}, {y}) does not fit in "
            f"frames of {img_w}x{img_h}; resize to at least the crop size first")
    imgs = sample["imgs"]
    sample["imgs"] = imgs.crop(x, y, w, h) if _deferred(imgs) else imgs[:, y:y + h, x:x + w]
    sample["crop_bbox"] = np.array([x, y, x + w, y + h])
    sample["img_shape"] = (h, w)
    return sample


def resize_frames(imgs: np.ndarray, size: tuple[int, int],
                  interpolation: str = "bilinear") -> np.ndarray:
    """Resize uint8 frames (N, H, W, C) to ``size`` = (h, w) in one vectorized call.

    Bilinear without antialiasing, like OpenCV's ``INTER_LINEAR`` that MMAction2 uses.
    """
    import torch

    if tuple(imgs.shape[1:3]) == tuple(size):
        return imgs
    if interpolation == "area" and (size[0] > imgs.shape[1] or size[1] > imgs.shape[2]):
        return _area_upscale(imgs, size)
    t = torch.from_numpy(np.ascontiguousarray(imgs))
    return resize_tensor(t, size, interpolation).contiguous().numpy()


def resize_tensor(t: Any, size: tuple[int, int], interpolation: str = "bilinear") -> Any:
    """:func:`resize_frames` on a uint8 tensor (N, H, W, C) on any device (the device tail).

    On the CPU the same kernels (bit for bit); CUDA has no uint8 bilinear kernel, so there
    bilinear interpolates in float32 and rounds (within one level of the CPU's)."""
    import torch
    import torch.nn.functional as F

    if tuple(t.shape[1:3]) == tuple(size):
        return t
    if interpolation == "area" and (size[0] > t.shape[1] or size[1] > t.shape[2]):
        return torch.from_numpy(_area_upscale(t.cpu().numpy(), size)).to(t.device)
    x = t.contiguous().permute(0, 3, 1, 2)  # channels-last (N, C, H, W)
    mode = {"area": "area", "nearest": "nearest", "bicubic": "bicubic"}.get(interpolation, "bilinear")
    kwargs = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    if mode == "bilinear" and x.device.type == "cpu":  # fast uint8 channels-last kernel
        out = F.interpolate(x, size=size, mode=mode, antialias=False, **kwargs)
    else:
        out = F.interpolate(x.float(), size=size, mode=mode, **kwargs)
        out = out.round_().clamp_(0, 255).to(torch.uint8)
    return out.permute(0, 2, 3, 1)


def _area_taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV's INTER_AREA taps along one axis when the image grows on some axis:
    two-tap linear weights placed by area overlap (``fx = (d + 1) - (s + 1) / scale``)."""
    scale = src / dst
    d = np.arange(dst)
    s0 = np.floor(d * scale).astype(np.int64)
    fx = (d + 1) - (s0 + 1) * (dst / src)
    fx = np.where(fx <= 0, 0.0, fx - np.floor(fx))
    last = s0 >= src - 1
    fx[last] = 0.0
    s0 = np.minimum(s0, src - 1)
    return s0, np.minimum(s0 + 1, src - 1), fx


def _area_upscale(imgs: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``interpolation = "area"`` when a side grows: OpenCV (and so MMAction2) then
    interpolates linearly with area-placed weights instead of averaging boxes."""
    y0, y1, fy = _area_taps(imgs.shape[1], size[0])
    x0, x1, fx = _area_taps(imgs.shape[2], size[1])
    f = imgs.astype(np.float32)
    rows = f[:, y0] * (1 - fy)[None, :, None, None] + f[:, y1] * fy[None, :, None, None]
    out = rows[:, :, x0] * (1 - fx)[None, None, :, None] + rows[:, :, x1] * fx[None, None, :, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class Resize:
    """Resize every frame.

    ``size``: an int short side (aspect kept, MMAction2 rounding) or ``[h, w]`` exact
    (``-1`` on one side keeps the aspect). Or MMAction2's ``scale``: ``[-1, s]`` short
    side ``s``; ``[w, h]`` exact with ``keep_ratio = false``, or the largest size within
    it with ``keep_ratio = true``; a float factor. A bilinear resize directly after
    ``decode`` is done by the decoder (``Decode.fuse``) unless ``fuse = false`` (then the
    frames are exactly MMAction2's: decoded at full size, then resized here;
    docs/pipeline.md says what fusion changes). ``scale_factor`` in the sample multiplies
    over several resizes, as in MMAction2.
    """

    needs = ("imgs",)  # sample keys read (zelda checks the pipeline"s order)
    adds = ()

    input_params = {"resize": ("size", "scale")}  # a model's InputSpec fills size

    def __init__(self, size: int | list[int] | None = None,
                 scale: float | list[float] | None = None, keep_ratio: bool = True,
                 interpolation: Interpolation = "bilinear", fuse: bool = True) -> None:
        if (size is None) == (scale is None):
            raise ValueError("resize needs exactly one of 'size' (zelda: short side or [h, w]) "
                             "or 'scale' (MMAction2's (w, h) convention)")
        if interpolation not in ("nearest", "bilinear", "bicubic", "area"):
            raise ValueError(f"interpolation must be nearest, bilinear, bicubic or area, "
                             f"got {interpolation!r}")
        if size is not None:
            _check_sides("size", size, "an int short side or [h, w] (-1 on one side keeps the aspect)")
            size = size if isinstance(size, int) else [int(v) for v in size]
        if scale is not None:
            _check_sides("scale", scale, "a positive factor or [w, h] (-1 on one side: short side)")
        self.size, self.scale, self.keep_ratio = size, scale, keep_ratio
        self.interpolation = interpolation
        # the decoder's own scaler is bilinear; fuse = false keeps MMAction2's exact path
        self.fusable = interpolation == "bilinear" and bool(fuse)

    def target_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of a ``height`` x ``width`` frame after this resize."""
        if self.size is not None:
            return resolve_size(height, width, self.size)
        scale = self.scale
        if isinstance(scale, (int, float)):
            factor = float(scale)
        else:
            a, b = scale
            if not self.keep_ratio:
                return int(b), int(a)
            long_edge, short_edge = max(a, b), min(a, b)
            if short_edge == -1:
                long_edge, short_edge = math.inf, max(a, b)
            factor = min(long_edge / max(height, width), short_edge / min(height, width))
        return int(height * factor + 0.5), int(width * factor + 0.5)

    def record(self, sample: dict[str, Any], before: tuple[int, int] | None = None) -> None:
        """Bookkeeping keys (also used when the decoder did the resize).

        ``before``: the (h, w) this resize started from (default: the original shape,
        which is what a fused resize starts from). ``scale_factor`` multiplies into the
        sample's (MMAction2: cumulative over several resizes).
        """
        h, w = sample["img_shape"]
        oh, ow = before if before is not None else sample.get("original_shape", (h, w))
        prev = sample.get("scale_factor", np.array([1, 1], dtype=np.float32))
        sample["scale_factor"] = prev * np.array([w / ow, h / oh], dtype=np.float32)
        sample["keep_ratio"] = self.keep_ratio if self.scale is not None else isinstance(self.size, int)

    deferrable = True  # runs in the device tail (zelda_core._deferred)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        h, w = _shape(sample)
        size = self.target_size(h, w)
        imgs = sample["imgs"]
        if _deferred(imgs):
            n, _, _, c = imgs.shape
            imgs.then(partial(resize_tensor, size=size, interpolation=self.interpolation),
                      (n, *size, c), ("resize", size, self.interpolation))
        else:
            sample["imgs"] = resize_frames(imgs, size, self.interpolation)
        sample["img_shape"] = size
        self.record(sample, before=(h, w))
        return sample


class CenterCrop:
    """Crop the centre ``crop_size`` (int or ``[w, h]``): left = (W - w) // 2, top = (H - h) // 2."""

    needs = ("imgs",)  # sample keys read (zelda checks the pipeline"s order)
    adds = ()
    deferrable = True  # runs in the device tail (zelda_core._deferred)

    input_params = {"crop": "crop_size"}

    def __init__(self, crop_size: int | list[int]) -> None:
        self.crop_w, self.crop_h = _pair(crop_size, "crop_size")

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        img_h, img_w = _shape(sample)
        x, y = (img_w - self.crop_w) // 2, (img_h - self.crop_h) // 2
        return _crop(sample, x, y, self.crop_w, self.crop_h, "center_crop")


class RandomCrop:
    """A random square crop of ``size`` (MMAction2: offsets in ``[0, W - size)``, exclusive)."""

    needs = ("imgs",)  # sample keys read (zelda checks the pipeline"s order)
    adds = ()
    deferrable = True  # runs in the device tail (zelda_core._deferred)

    input_params = {"crop": "size"}

    def __init__(self, size: int) -> None:
        self.size = _pair(size, "size")[0]

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        img_h, img_w = _shape(sample)
        rng = _rng(sample)
        y = int(rng.integers(0, img_h - self.size)) if img_h > self.size else 0
        x = int(rng.integers(0, img_w - self.size)) if img_w > self.size else 0
        return _crop(sample, x, y, self.size, self.size, "random_crop")


class RandomResizedCrop:
    """Inception-style crop: random area fraction and aspect ratio (MMAction2's rules).

    Up to 10 candidates (log-uniform aspect in ``aspect_ratio_range``, area in
    ``area_range``); the first that fits wins, else the centre square. Follow it with a
    ``resize`` to the network size.
    """

    needs = ("imgs",)  # sample keys read (zelda checks the pipeline"s order)
    adds = ()
    deferrable = True  # runs in the device tail (zelda_core._deferred)

    def __init__(self, area_range: list[float] = (0.08, 1.0),
                 aspect_ratio_range: list[float] = (3 / 4, 4 / 3)) -> None:
        if not (len(area_range) == 2 and 0 < area_range[0] <= area_range[1] <= 1):
            raise ValueError(f"area_range must be [a, b] with 0 < a <= b <= 1, got {area_range!r}")
        if not (len(aspect_ratio_range) == 2 and 0 < aspect_ratio_range[0] <= aspect_ratio_range[1]):
            raise ValueError(f"aspect_ratio_range must be [a, b] with 0 < a <= b, got {aspect_ratio_range!r}")
        self.area_range = tuple(float(v) for v in area_range)
        self.aspect_ratio_range = tuple(float(v) for v in aspect_ratio_range)

    def crop_box(self, img_h: int, img_w: int, rng: np.random.Generator,
                 max_attempts: int = 10) -> tuple[int, int, int, int]:
        """(x, y, w, h) of the crop."""
        area = img_h * img_w
        lo, hi = self.aspect_ratio_range
        ratios = np.exp(rng.uniform(np.log(lo), np.log(hi), size=max_attempts))
        areas = rng.uniform(*self.area_range, size=max_attempts) * area
        ws = np.round(np.sqrt(areas * ratios)).astype(np.int32)
        hs = np.round(np.sqrt(areas / ratios)).astype(np.int32)
        for w, h in zip(ws.tolist(), hs.tolist()):
            if h <= img_h and w <= img_w:
                x = int(rng.integers(0, img_w - w + 1))
                y = int(rng.integers(0, img_h - h + 1))
                return x, y, w, h
        s = min(img_h, img_w)
        return (img_w - s) // 2, (img_h - s) // 2, s, s

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        img_h, img_w = _shape(sample)
        x, y, w, h = self.crop_box(img_h, img_w, _rng(sample))
        return _crop(sample, x, y, w, h, "random_resized_crop")


class MultiScaleCrop:
    """TSN's multi-scale crop (MMAction2's rules).

    Crop sides are ``int(min(H, W) * s)`` for ``s`` in ``scales``; a (w, h) pair whose scale
    levels differ by at most ``max_wh_scale_gap`` is drawn; a side within 2 px of
    ``input_size`` snaps to it. The position is random (``random_crop``) or one of 5 (or
    13) fixed positions on a grid of quarter steps. Follow it with a ``resize``.
    """

    needs = ("imgs",)  # sample keys read (zelda checks the pipeline"s order)
    adds = ()
    deferrable = True  # runs in the device tail (zelda_core._deferred)

    def __init__(self, input_size: int | list[int], scales: list[float] = (1,),
                 max_wh_scale_gap: int = 1, random_crop: bool = False,
                 num_fixed_crops: int = 5) -> None:
        self.input_size = _pair(input_size, "input_size")
        if num_fixed_crops not in (5, 13):
            raise ValueError(f"num_fixed_crops must be 5 or 13, got {num_fixed_crops!r}")
        if not scales:
            raise ValueError("scales must list at least one scale")
        self.scales = tuple(float(s) for s in scales)
        self.max_wh_scale_gap, self.random_crop = max_wh_scale_gap, random_crop
        self.num_fixed_crops = num_fixed_crops

    def crop_box(self, img_h: int, img_w: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
        """(x, y, w, h) of the crop."""
        base = min(img_h, img_w)
        sizes = [int(base * s) for s in self.scales]
        candidates = [[w, h] for i, h in enumerate(sizes) for j, w in enumerate(sizes)
                      if abs(i - j) <= self.max_wh_scale_gap]
        crop = list(candidates[int(rng.integers(len(candidates)))])
        for i in range(2):
            if abs(crop[i] - self.input_size[i]) < 3:
                crop[i] = self.input_size[i]
        w, h = crop
        if self.random_crop:
            return int(rng.integers(0, img_w - w + 1)), int(rng.integers(0, img_h - h + 1)), w, h
        ws, hs = (img_w - w) // 4, (img_h - h) // 4
        offsets = [(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs)]
        if self.num_fixed_crops == 13:
            offsets += [(0, 2 * hs), (4 * ws, 2 * hs), (2 * ws, 4 * hs), (2 * ws, 0),
                        (ws, hs), (3 * ws, hs), (ws, 3 * hs), (3 * ws, 3 * hs)]
        x, y = offsets[int(rng.integers(len(offsets)))]
        return x, y, w, h

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        img_h, img_w = _shape(sample)
        x, y, w, h = self.crop_box(img_h, img_w, _rng(sample))
        sample["scales"] = self.scales
        return _crop(sample, x, y, w, h, "multi_scale_crop")


class Flip:
    """Flip all frames with probability ``flip_ratio`` (one draw per sample).

    ``direction`` horizontal|vertical. ``flip_label_map`` maps a label to its mirrored
    class when flipped (e.g. "swiping left" <-> "swiping right"); TOML keys are strings
    (``{"3" = 4}``) and are read as ints.
    """

    needs = ("imgs",)  # sample keys read (zelda checks the pipeline"s order)
    adds = ()
    deferrable = True  # runs in the device tail (zelda_core._deferred)

    def __init__(self, flip_ratio: float = 0.5,
                 direction: Literal["horizontal", "vertical"] = "horizontal",
                 flip_label_map: dict[str, int] | None = None) -> None:
        if direction not in ("horizontal", "vertical"):
            raise ValueError(f"direction must be 'horizontal' or 'vertical', got {direction!r}")
        if not 0 <= flip_ratio <= 1:
            raise ValueError(f"flip_ratio must be in [0, 1], got {flip_ratio!r}")
        self.flip_ratio, self.direction = float(flip_ratio), direction
        try:
            self.flip_label_map = (None if flip_label_map is None else
                                   {int(k): int(v) for k, v in flip_label_map.items()})
        except (TypeError, ValueError, AttributeError):
            raise ValueError(f"flip_label_map must map labels to labels, e.g. {{\"3\" = 4}}, "
                             f"got {flip_label_map!r}") from None

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        flip = bool(_rng(sample).random() < self.flip_ratio)
        sample["flip"], sample["flip_direction"] = flip, self.direction
        axis, imgs = (2 if self.direction == "horizontal" else 1), sample["imgs"]
        if _deferred(imgs):
            imgs.flip(axis, flip)  # a no-op in its place when not flipped
        elif flip:
            sample["imgs"] = np.flip(imgs, axis=axis)
        if flip:
            if self.flip_label_map is not None and "label" in sample:
                sample["label"] = self.flip_label_map.get(sample["label"], sample["label"])
        return sample


def _multi_crop(sample: dict[str, Any], offsets: list[tuple[int, int]], w: int, h: int,
                flip: bool, what: str) -> dict[str, Any]:
    imgs = sample["imgs"]
    img_h, img_w = imgs.shape[1:3]
    if w > img_w or h > img_h:
        raise DataError(f"{sample.get('filename', '?')}: {what} {w}x{h} does not fit in frames "
                        f"of {img_w}x{img_h}; resize first")
    n = imgs.shape[0]
    views = 2 * len(offsets) if flip else len(offsets)
    out = np.empty((views * n, h, w, imgs.shape[3]), dtype=imgs.dtype)
    boxes = []
    v = 0
    for x, y in offsets:
        crop = imgs[:, y:y + h, x:x + w]
        out[v * n:(v + 1) * n] = crop
        boxes.append([x, y, x + w, y + h])
        v += 1
        if flip:
            out[v * n:(v + 1) * n] = crop[:, :, ::-1]
            boxes.append([x, y, x + w, y + h])
            v += 1
    sample["imgs"] = out
    sample["crop_bbox"] = np.repeat(np.array(boxes), n, axis=0)
    sample["img_shape"] = (h, w)
    return sample


class ThreeCrop:
    """Three crops along the longer side: left/top, right/bottom, middle (MMAction2 order).

    One side of ``crop_size`` (int or ``[w, h]``) must equal the frame's; the views are
    stacked crop-major: ``imgs`` becomes (3 * N, h, w, 3).
    """

    needs = ("imgs",)  # sample keys read (zelda checks the pipeline"s order)
    adds = ()

    input_params = {"crop": "crop_size"}

    def __init__(self, crop_size: int | list[int]) -> None:
        self.crop_w, self.crop_h = _pair(crop_size, "crop_size")

    def offsets(self, img_h: int, img_w: int) -> list[tuple[int, int]]:
        """(x, y) of the three crops."""
        w, h = self.crop_w, self.crop_h
        if h == img_h:
            step = (img_w - w) // 2
            return [(0, 0), (2 * step, 0), (step, 0)]
        if w == img_w:
            step = (img_h - h) // 2
            return [(0, 0), (0, 2 * step), (0, step)]
        raise ValueError(f"three_crop {w}x{h} needs one side equal to the frame's ({img_w}x{img_h}); "
                         f"resize the short side to the crop size first")

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        img_h, img_w = _shape(sample)
        try:
            offsets = self.offsets(img_h, img_w)
        except ValueError as exc:
            raise DataError(f"{sample.get('filename', '?')}: {exc}") from None
        return _multi_crop(sample, offsets, self.crop_w, self.crop_h, False, "three_crop")


class TenCrop:
    """Four corners and the centre, each followed by its horizontal flip (MMAction2 order).

    Offsets on quarter steps ``ws = (W - w) // 4``, ``hs = (H - h) // 4``: (0, 0),
    (4ws, 0), (0, 4hs), (4ws, 4hs), (2ws, 2hs). ``imgs`` becomes (10 * N, h, w, 3).
    """

    needs = ("imgs",)  # sample keys read (zelda checks the pipeline"s order)
    adds = ()

    input_params = {"crop": "crop_size"}

    def __init__(self, crop_size: int | list[int]) -> None:
        self.crop_w, self.crop_h = _pair(crop_size, "crop_size")

    def offsets(self, img_h: int, img_w: int) -> list[tuple[int, int]]:
        """(x, y) of the five unflipped crops."""
        ws, hs = (img_w - self.crop_w) // 4, (img_h - self.crop_h) // 4
        return [(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs)]

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        img_h, img_w = _shape(sample)
        return _multi_crop(sample, self.offsets(img_h, img_w), self.crop_w, self.crop_h, True,
                           "ten_crop")
