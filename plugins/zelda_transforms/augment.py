"""Clip-consistent photometric and geometric augmentation: RandAugment, TrivialAugmentWide,
ColorJitter, grayscale.

Each transform works as torchvision's transforms v2 do: ``make_params`` draws everything
random once per sample from ``sample["rng"]`` (so a sample's augmentation depends only on
(seed, epoch, index) and resumes exactly), then ``apply`` runs the same operations with the
same parameters on every frame of the sample (all its clips and views), in one vectorized
call on the uint8 frames (``zelda_transforms.augment_ops``; torchvision is not needed). The
drawn parameters are left in the sample under the transform's name (``rand_augment``,
``trivial_augment``, ``color_jitter``, ``grayscale``) and ``pack`` copies them into the
batch's ``meta``, for debugging.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, Literal

import numpy as np

from zelda_core.api import DeferredFrames

from . import augment_ops as ops

Interpolation = Literal["nearest", "bilinear"]

TIMM_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize",
            "SolarizeAdd", "Color", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY",
            "TranslateXRel", "TranslateYRel")
"""timm's ``_RAND_TRANSFORMS`` (timm/data/auto_augment.py), the ops of ``rand-m*-n*``."""

TRIVIAL_OPS = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate",
               "Brightness", "Color", "Contrast", "Sharpness", "Posterize", "Solarize",
               "AutoContrast", "Equalize")
"""torchvision's ``TrivialAugmentWide._AUGMENTATION_SPACE``, in its order."""


def _rng(sample: dict[str, Any]) -> np.random.Generator:
    rng = sample.get("rng")
    if rng is None:  # a sample built by hand: still reproducible, never global state
        rng = sample["rng"] = np.random.default_rng(0)
    return rng


def to_tensor(imgs: np.ndarray) -> Any:
    """uint8 frames (N, H, W, 3) as a contiguous tensor (one copy when a crop or flip view;
    a flipped view is copied unflipped, then flipped by torch: 3x faster than NumPy's
    copy through a negative stride)."""
    import torch

    flipped = [axis for axis, stride in enumerate(imgs.strides) if stride < 0]
    if not flipped:
        return torch.from_numpy(np.ascontiguousarray(imgs))
    base = np.ascontiguousarray(np.flip(imgs, axis=tuple(flipped)))
    return torch.from_numpy(base).flip(flipped)


def to_frames(t: Any) -> np.ndarray:
    """The frames of :func:`to_tensor` as NumPy again (no copy)."""
    return t.numpy()


@contextmanager
def one_thread() -> Iterator[None]:
    """torch at one intra-op thread for the block, as in a DataLoader worker (torch sets it
    there). In the main process (``data.workers = 0``, ``zelda bench pipeline``) torch
    would split each clip-sized kernel over every core: on busy cores that costs up to 10x
    the CPU it saves (threads spin waiting for each other), and the loader's workers are
    the pipeline's parallelism anyway."""
    import torch

    n = torch.get_num_threads()
    if n > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if n > 1:
            torch.set_num_threads(n)


def _fill(fill: float | Sequence[float], name: str) -> tuple[float, float, float]:
    values = [fill] * 3 if isinstance(fill, (int, float)) and not isinstance(fill, bool) else fill
    if (not isinstance(values, (list, tuple)) or len(values) != 3
            or not all(isinstance(v, (int, float)) and 0 <= v <= 255 for v in values)):
        raise ValueError(f"{name} must be a value in [0, 255] or three of them (R, G, B), got {fill!r}")
    return tuple(float(v) for v in values)  # type: ignore[return-value]


def _check_interpolation(value: str) -> None:
    if value not in ("nearest", "bilinear"):
        raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {value!r}")


def apply_op(t: Any, op: str, arg: Any, *, interpolation: str = "nearest",
             fill: Sequence[float] = (0.0, 0.0, 0.0)) -> Any:
    """Run one named operation with its argument on (N, H, W, 3) uint8 frames.

    ``arg`` is what the op takes, already resolved from a magnitude: a factor for the
    enhance ops (Brightness, Color = saturation, Contrast, Sharpness), degrees for Rotate,
    a slope for ShearX/Y, pixels (right/down) for TranslateX/Y, bits for Posterize, the
    threshold for Solarize, the addition for SolarizeAdd; None for the rest.
    """
    geo = {"interpolation": interpolation, "fill": fill}
    if op == "Identity":
        return t
    if op == "ShearX":
        return ops.shear_x(t, arg, **geo)
    if op == "ShearY":
        return ops.shear_y(t, arg, **geo)
    if op == "TranslateX":
        return ops.affine(t, translate=(arg, 0.0), **geo)
    if op == "TranslateY":
        return ops.affine(t, translate=(0.0, arg), **geo)
    if op == "Rotate":
        return ops.rotate(t, arg, **geo)
    enhance = {"Brightness": ops.adjust_brightness, "Color": ops.adjust_saturation,
               "Contrast": ops.adjust_contrast, "Sharpness": ops.adjust_sharpness}
    if op in enhance:
        return enhance[op](t, arg)
    if op == "Posterize":
        return ops.posterize(t, int(arg))
    if op == "Solarize":
        return ops.solarize(t, arg)
    if op == "SolarizeAdd":
        return ops.solarize_add(t, int(arg))
    plain = {"AutoContrast": ops.autocontrast, "Equalize": ops.equalize, "Invert": ops.invert}
    return plain[op](t)


def _apply_all(sample: dict[str, Any], steps: list[dict[str, Any]], interpolation: str,
               fill: Sequence[float]) -> None:
    _run(sample, partial(_apply_steps, steps=steps, interpolation=interpolation, fill=fill)
         if steps else None)


def _apply_steps(t: Any, steps: list[dict[str, Any]], interpolation: str,
                 fill: Sequence[float]) -> Any:
    for step in steps:
        t = apply_op(t, step["op"], step["arg"], interpolation=interpolation, fill=fill)
    return t


def _run(sample: dict[str, Any], fn: Any) -> None:
    """``fn`` (tensor -> tensor, same shape; None: nothing drawn) on the sample's frames:
    now, on NumPy frames, or recorded on DeferredFrames for the device tail (the same
    operations on the same contiguous frames, so the same values on the CPU)."""
    imgs = sample["imgs"]
    if isinstance(imgs, DeferredFrames):
        if fn is None:
            imgs.noop()
        else:
            imgs.then(partial(_on_tensor, fn=fn))
        return
    if fn is None:
        return
    with one_thread():
        sample["imgs"] = to_frames(fn(to_tensor(imgs)))


def _on_tensor(t: Any, fn: Any) -> Any:
    with one_thread():
        return fn(t.contiguous())


class RandAugment:
    """timm's RandAugment (``rand-m{magnitude}-n{num_ops}-mstd{magnitude_std}``), the same
    operations on every frame of the sample.

    Definitions follow timm's ``timm/data/auto_augment.py`` (the policy VideoMAE, MMAction2's
    VideoMAE/UniFormerV2 configs and DeiT use): ``num_ops`` operations picked uniformly
    with replacement from ``ops`` (default timm's ``_RAND_TRANSFORMS``), each applied with
    probability ``prob``; its magnitude is ``magnitude`` (0..``magnitude_max``, timm's
    levels out of 10), drawn from N(magnitude, magnitude_std) when ``magnitude_std`` > 0
    (uniform in [0, magnitude] when it is ``inf``), clipped to [0, magnitude_max]. At level
    m: Rotate +-30*m/10 degrees, ShearX/Y +-0.3*m/10, TranslateX/YRel +-translate_pct*m/10
    of the width/height, Brightness/Color/Contrast/Sharpness a factor 0.1 + 1.8*m/10,
    Posterize int(4*m/10) bits, Solarize threshold int(256*m/10), SolarizeAdd int(110*m/10)
    below 128 (signs drawn at random). ``rand-m7-n4-mstd0.5`` is
    ``{ type = "rand_augment", num_ops = 4, magnitude = 7, magnitude_std = 0.5 }``.

    The pixel operations are torchvision v2's uint8 kernels (``augment_ops``); timm runs
    PIL's, which round a few values differently. Geometry uses ``interpolation``
    (timm: bilinear or bicubic through PIL) and fills uncovered pixels with ``fill``
    (timm: 128, or ``img_mean`` when given; VideoMAE passes [124, 116, 104]).
    """

    needs = ("imgs",)  # sample keys read (zelda checks the pipeline"s order)
    adds = ("rand_augment",)
    deferrable = True  # runs in the device tail (zelda_core._deferred)

    def __init__(self, num_ops: int = 2, magnitude: float = 9.0, magnitude_std: float = 0.0,
                 magnitude_max: float = 10.0, prob: float = 0.5, ops: list[str] | None = None,
                 translate_pct: float = 0.45, interpolation: Interpolation = "nearest",
                 fill: float | list[float] = 128) -> None:
        if isinstance(num_ops, bool) or not isinstance(num_ops, int) or num_ops < 0:
            raise ValueError(f"num_ops must be a non-negative integer, got {num_ops!r}")
        if not 0 <= magnitude_max <= 100 or not 0 <= magnitude <= magnitude_max:
            raise ValueError(f"magnitude must be in [0, magnitude_max = {magnitude_max}] "
                             f"(timm's levels: 10 is the strongest), got {magnitude!r}")
        if not magnitude_std >= 0:
            raise ValueError(f"magnitude_std must be >= 0 (inf: uniform in [0, magnitude]), "
                             f"got {magnitude_std!r}")
        if not 0 <= prob <= 1:
            raise ValueError(f"prob must be in [0, 1], got {prob!r}")
        if not 0 <= translate_pct <= 1:
            raise ValueError(f"translate_pct must be in [0, 1], got {translate_pct!r}")
        names = list(TIMM_OPS if ops is None else ops)
        unknown = [n for n in names if n not in TIMM_OPS]
        if unknown or not names:
            raise ValueError(f"ops must be a non-empty list of {', '.join(TIMM_OPS)}; "
                             f"unknown: {unknown}")
        _check_interpolation(interpolation)
        self.num_ops, self.magnitude, self.magnitude_std = num_ops, float(magnitude), float(magnitude_std)
        self.magnitude_max, self.prob, self.ops = float(magnitude_max), float(prob), names
        self.translate_pct, self.interpolation = float(translate_pct), interpolation
        self.fill = _fill(fill, "fill")

    def _arg(self, op: str, m: float, rng: np.random.Generator, h: int, w: int) -> Any:
        level = m / 10.0

        def signed(v: float) -> float:
            return -v if rng.random() > 0.5 else v  # timm's _randomly_negate

        if op == "Rotate":
            return signed(30.0 * level)
        if op in ("ShearX", "ShearY"):
            return signed(0.3 * level)
        if op in ("TranslateXRel", "TranslateYRel"):
            # PIL's (1, 0, p, 0, 1, 0) moves the image by -p: as pixels right/down, -p
            size = w if op == "TranslateXRel" else h
            return -signed(self.translate_pct * level) * size
        if op in ("Brightness", "Color", "Contrast", "Sharpness"):
            return 0.1 + 1.8 * level
        if op == "Posterize":
            return int(4 * level)
        if op == "Solarize":
            return int(256 * level)
        if op == "SolarizeAdd":
            return int(110 * level)
        return None

    def make_params(self, rng: np.random.Generator, h: int, w: int) -> list[dict[str, Any]]:
        """The operations this sample gets, in order: ``{"op", "magnitude", "arg"}``."""
        picks = rng.integers(len(self.ops), size=self.num_ops)
        steps = []
        for k in picks:
            if self.prob < 1.0 and rng.random() > self.prob:
                continue
            m = self.magnitude
            if self.magnitude_std == math.inf:
                m = float(rng.uniform(0.0, m))
            elif self.magnitude_std > 0:
                m = float(rng.normal(m, self.magnitude_std))
            m = min(max(0.0, m), self.magnitude_max)
            op = self.ops[int(k)]
            steps.append({"op": op, "magnitude": m, "arg": self._arg(op, m, rng, h, w)})
        return steps

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        h, w = sample["imgs"].shape[1:3]
        steps = self.make_params(_rng(sample), int(h), int(w))
        resolved = [{**s, "op": s["op"].replace("Rel", "")} for s in steps]
        _apply_all(sample, resolved, self.interpolation, self.fill)
        sample["rand_augment"] = steps
        return sample


class TrivialAugmentWide:
    """torchvision's ``TrivialAugmentWide`` (transforms v2): one operation, uniformly chosen,
    at a magnitude drawn uniformly from ``num_magnitude_bins`` bins, on every frame.

    The ops and ranges are torchvision's: ShearX/Y 0..0.99, TranslateX/Y 0..32 pixels,
    Rotate 0..135 degrees, Brightness/Color/Contrast/Sharpness 1 + (0..0.99) (these signed
    with probability 1/2), Posterize 8 down to 2 bits, Solarize threshold 255 * (1..0),
    AutoContrast, Equalize, Identity. ``interpolation`` and ``fill`` as torchvision's
    (nearest, black).
    """

    needs = ("imgs",)  # sample keys read (zelda checks the pipeline"s order)
    adds = ("trivial_augment",)
    deferrable = True  # runs in the device tail (zelda_core._deferred)

    def __init__(self, num_magnitude_bins: int = 31, interpolation: Interpolation = "nearest",
                 fill: float | list[float] = 0) -> None:
        if isinstance(num_magnitude_bins, bool) or not isinstance(num_magnitude_bins, int) \
                or num_magnitude_bins < 2:
            raise ValueError(f"num_magnitude_bins must be an integer >= 2, got {num_magnitude_bins!r}")
        _check_interpolation(interpolation)
        self.num_magnitude_bins, self.interpolation = num_magnitude_bins, interpolation
        self.fill = _fill(fill, "fill")

    def magnitudes(self, op: str) -> tuple[np.ndarray | None, bool]:
        """(the op's magnitude bins or None, whether its sign is drawn)."""
        n = self.num_magnitude_bins
        wide = {"ShearX": 0.99, "ShearY": 0.99, "TranslateX": 32.0, "TranslateY": 32.0,
                "Rotate": 135.0, "Brightness": 0.99, "Color": 0.99, "Contrast": 0.99,
                "Sharpness": 0.99}
        if op in wide:
            return np.linspace(0.0, wide[op], n, dtype=np.float32), True
        if op == "Posterize":
            return 8 - np.round(np.arange(n) / ((n - 1) / 6)).astype(np.int64), False
        if op == "Solarize":
            return np.linspace(1.0, 0.0, n, dtype=np.float32), False
        return None, False

    def make_params(self, rng: np.random.Generator) -> dict[str, Any]:
        """``{"op", "magnitude", "arg"}``: the operation, its drawn magnitude and what it takes."""
        op = TRIVIAL_OPS[int(rng.integers(len(TRIVIAL_OPS)))]
        bins, signed = self.magnitudes(op)
        m = 0.0
        if bins is not None:
            m = float(bins[int(rng.integers(self.num_magnitude_bins))])
            if signed and rng.random() <= 0.5:
                m = -m
        if op in ("Brightness", "Color", "Contrast", "Sharpness"):
            arg: Any = 1.0 + m
        elif op in ("TranslateX", "TranslateY", "Posterize"):
            arg = int(m)
        elif op == "Solarize":
            arg = 255.0 * m
        elif op in ("ShearX", "ShearY", "Rotate"):
            arg = m
        else:
            arg = None
        return {"op": op, "magnitude": m, "arg": arg}

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        step = self.make_params(_rng(sample))
        _apply_all(sample, [step], self.interpolation, self.fill)
        sample["trivial_augment"] = step
        return sample


def _jitter_range(value: float | Sequence[float] | None, name: str, center: float,
                  bound: tuple[float, float]) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value!r}")
        lo, hi = center - value, center + value
        if name != "hue":
            lo = max(lo, 0.0)
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        lo, hi = float(value[0]), float(value[1])
    else:
        raise ValueError(f"{name} must be a number or [min, max], got {value!r}")
    if not bound[0] <= lo <= hi <= bound[1]:
        raise ValueError(f"{name} must give a range within [{bound[0]}, {bound[1]}], got {value!r}")
    return (lo, hi) if (lo, hi) != (center, center) else None


class ColorJitter:
    """torchvision's ``ColorJitter`` (transforms v2), one draw per sample, every frame alike.

    ``brightness``, ``contrast``, ``saturation``: a number b means factors uniform in
    [max(0, 1 - b), 1 + b], or give [min, max]; ``hue``: h means [-h, h] (within
    [-0.5, 0.5]). The four adjustments run in a random order, as torchvision's. ``p``: the
    probability the whole jitter applies (1: always; ``RandomApply``'s role).
    """

    needs = ("imgs",)  # sample keys read (zelda checks the pipeline"s order)
    adds = ("color_jitter",)
    deferrable = True  # runs in the device tail (zelda_core._deferred)

    def __init__(self, brightness: float | list[float] | None = None,
                 contrast: float | list[float] | None = None,
                 saturation: float | list[float] | None = None,
                 hue: float | list[float] | None = None, p: float = 1.0) -> None:
        inf = math.inf
        self.ranges = {
            "brightness": _jitter_range(brightness, "brightness", 1.0, (0.0, inf)),
            "contrast": _jitter_range(contrast, "contrast", 1.0, (0.0, inf)),
            "saturation": _jitter_range(saturation, "saturation", 1.0, (0.0, inf)),
            "hue": _jitter_range(hue, "hue", 0.0, (-0.5, 0.5)),
        }
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p!r}")
        self.p = float(p)

    def make_params(self, rng: np.random.Generator) -> dict[str, Any]:
        """``{"order": [...], "brightness": factor, ...}`` (only the adjustments that run)."""
        if self.p < 1.0 and not rng.random() < self.p:
            return {"order": []}
        order = [list(self.ranges)[i] for i in rng.permutation(4)]
        params: dict[str, Any] = {"order": [n for n in order if self.ranges[n] is not None]}
        for name in params["order"]:
            lo, hi = self.ranges[name]  # type: ignore[misc]
            params[name] = float(rng.uniform(lo, hi))
        return params

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        params = self.make_params(_rng(sample))
        _run(sample, partial(_jitter, params=params) if params["order"] else None)
        sample["color_jitter"] = params
        return sample


def _jitter(t: Any, params: dict[str, Any]) -> Any:
    fns = {"brightness": ops.adjust_brightness, "contrast": ops.adjust_contrast,
           "saturation": ops.adjust_saturation, "hue": ops.adjust_hue}
    for name in params["order"]:
        t = fns[name](t, params[name])
    return t


class Grayscale:
    """torchvision's ``RandomGrayscale``: with probability ``p`` every frame becomes its
    luma (0.2989 R + 0.587 G + 0.114 B, truncated) in all three channels."""

    needs = ("imgs",)  # sample keys read (zelda checks the pipeline"s order)
    adds = ("grayscale",)
    deferrable = True  # runs in the device tail (zelda_core._deferred)

    def __init__(self, p: float = 0.1) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p!r}")
        self.p = float(p)

    def make_params(self, rng: np.random.Generator) -> bool:
        """Whether this sample turns gray."""
        return bool(rng.random() < self.p)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        gray = self.make_params(_rng(sample))
        _run(sample, ops.rgb_to_grayscale if gray else None)
        sample["grayscale"] = gray
        return sample
