"""Image operations on a whole clip at once: uint8 tensors (N, H, W, C), C = 3 (RGB).

Each function is the per-image kernel of ``torchvision.transforms.v2.functional`` (same
name, same parameters, same integer rounding), applied to every frame in one vectorized
call on contiguous channels-last frames (the pipeline's own layout, and several times
faster than a permuted (N, C, H, W) view), without needing torchvision. Statistics an
operation reads from the image itself (the contrast mean, autocontrast's range,
equalize's histogram) are per frame, and per channel where torchvision's are, as
torchvision computes them for a ``tv_tensors.Video``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

_GRAY = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights (ITU-R 601-2)
_VALUES = torch.arange(256, dtype=torch.uint8)


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Clamp a float result to [0, 255] and truncate, as torchvision's ``_blend``."""
    return x.clamp_(0, 255).to(torch.uint8)


def gray(img: torch.Tensor) -> torch.Tensor:
    """(N, H, W, 1) float luma, not rounded (torchvision's order of operations)."""
    r, g, b = img.unbind(-1)
    return r.mul(_GRAY[0]).add_(g, alpha=_GRAY[1]).add_(b, alpha=_GRAY[2]).unsqueeze(-1)


def _blend(img: torch.Tensor, other: torch.Tensor | float, ratio: float) -> torch.Tensor:
    out = img.mul(ratio)
    if isinstance(other, torch.Tensor):
        return _to_uint8(out.add_(other, alpha=1.0 - ratio))
    return _to_uint8(out.add_(other * (1.0 - ratio)))


def rgb_to_grayscale(img: torch.Tensor) -> torch.Tensor:
    """Luma in all three channels (truncated to uint8), torchvision's ``num_output_channels=3``."""
    return gray(img).to(torch.uint8).expand_as(img).contiguous()


def adjust_brightness(img: torch.Tensor, factor: float) -> torch.Tensor:
    """``img * factor``: blend with black (pointwise, so a table)."""
    return apply_lut(img, _to_uint8(_VALUES.mul(float(factor))))


def adjust_saturation(img: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend with the frame's grayscale (floored)."""
    return _blend(img, gray(img).floor_(), float(factor))


def adjust_contrast(img: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend with the mean of the frame's grayscale (one mean per frame)."""
    mean = gray(img).floor_().mean(dim=(1, 2, 3), keepdim=True)
    return _blend(img, mean, float(factor))


def adjust_sharpness(img: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend with the frame smoothed by torchvision's 3x3 kernel (1s around a 5, / 13,
    rounded); the one-pixel border keeps its values.

    The smoothing is exact integer arithmetic ((3x3 sum + 4 * centre) / 13 never ties
    at .5, so rounding it equals rounding torchvision's float convolution).
    """
    n, h, w, c = img.shape
    if h <= 2 or w <= 2:
        return img
    x = img.to(torch.int16)
    rows = x[:, :-2] + x[:, 1:-1] + x[:, 2:]
    box = rows[:, :, :-2] + rows[:, :, 1:-1] + rows[:, :, 2:]
    centre = x[:, 1:-1, 1:-1]
    blurred = (box + 4 * centre).to(torch.float32).div_(13.0).round_()
    out = img.to(torch.float32)
    inner = out[:, 1:-1, 1:-1]
    inner.add_(blurred.sub_(inner), alpha=1.0 - float(factor))
    return _to_uint8(out)


def apply_lut(img: torch.Tensor, lut: torch.Tensor) -> torch.Tensor:
    """``lut[value]`` for every value: one 256-entry uint8 table, or one per frame and
    channel ((N, C, 256)). A table lookup is the fastest exact way to run a pointwise
    operation on uint8 frames (NumPy's ``take``: no int64 copy of the frames)."""
    import numpy as np

    if img.device.type != "cpu":  # on a GPU (the device tail): an index into the table
        return lut_gather(img, lut.to(img.device))
    x, table = img.numpy(), lut.numpy()
    if table.ndim == 1:
        return torch.from_numpy(np.take(table, x))
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        for c in range(x.shape[-1]):
            out[i, ..., c] = np.take(table[i, c], x[i, ..., c])
    return torch.from_numpy(out)


def lut_gather(img: torch.Tensor, lut: torch.Tensor) -> torch.Tensor:
    """:func:`apply_lut` with torch alone, on the frames' device: one table (256,) or one
    per frame and channel (N, C, 256)."""
    x = img.to(torch.int64)
    if lut.dim() == 1:
        return lut[x]
    n, c = lut.shape[:2]
    plane = torch.arange(n * c, device=img.device).view(n, 1, 1, c).mul_(256)
    return lut.reshape(-1)[x.add_(plane)]


def posterize(img: torch.Tensor, bits: int) -> torch.Tensor:
    """Keep the ``bits`` most significant bits (0..8) of every value."""
    if bits >= 8:
        return img
    return img & (((1 << bits) - 1) << (8 - bits))


def solarize(img: torch.Tensor, threshold: float) -> torch.Tensor:
    """Invert the values at or above ``threshold`` (above 255: nothing changes)."""
    return apply_lut(img, torch.where(_VALUES >= threshold, _VALUES.bitwise_not(), _VALUES))


def solarize_add(img: torch.Tensor, addition: int, threshold: int = 128) -> torch.Tensor:
    """timm's ``solarize_add``: add ``addition`` to values below ``threshold``, clipped at 255."""
    v = _VALUES.to(torch.int16)
    return apply_lut(img, torch.where(v < threshold, (v + int(addition)).clamp_(0, 255), v).to(torch.uint8))


def invert(img: torch.Tensor) -> torch.Tensor:
    """``255 - value``."""
    return img.bitwise_not()


def autocontrast(img: torch.Tensor) -> torch.Tensor:
    """Stretch each channel of each frame to [0, 255] (a flat channel stays as it is):
    ``(v - min) / ((max - min) * (1 / 255))`` in float32, truncated, as a table per plane."""
    lo = img.amin(dim=(1, 2)).to(torch.float32).unsqueeze(-1)  # (N, C, 1)
    hi = img.amax(dim=(1, 2)).to(torch.float32).unsqueeze(-1)
    flat = hi == lo
    scale = (hi - lo).mul_(1.0 / 255.0).masked_fill_(flat, 1.0)
    lo = lo.masked_fill_(flat, 0.0)
    lut = _VALUES.to(lo.device, torch.float32).expand(lo.shape[0], lo.shape[1], 256)
    return apply_lut(img, lut.sub(lo).div_(scale).clamp_(0, 255).to(torch.uint8))


def equalize(img: torch.Tensor) -> torch.Tensor:
    """Histogram equalization per frame and channel, PIL's lookup table
    (``(cum_hist + step // 2) // step`` with ``step`` = non-maximum pixels // 255)."""
    n, h, w, c = img.shape
    planes = img.permute(0, 3, 1, 2).reshape(n * c, h * w).to(torch.int64)
    offsets = torch.arange(n * c, dtype=torch.int64, device=img.device).mul_(256).unsqueeze_(1)
    hist = torch.bincount(planes.add_(offsets).reshape(-1), minlength=n * c * 256).view(n * c, 256)
    cum = hist.cumsum(1)
    last = cum.argmax(1, keepdim=True)  # the histogram's last non-zero bin
    step = (h * w - hist.gather(1, last)).div_(255, rounding_mode="floor")
    lut = (cum[:, :-1] + step // 2).div_(step.clamp(min=1), rounding_mode="floor").clamp_(0, 255)
    lut = torch.cat([torch.zeros(n * c, 1, dtype=lut.dtype, device=lut.device), lut], 1)
    lut = torch.where(step.ne(0), lut, torch.arange(256, device=lut.device))  # a flat plane stays as it is
    return apply_lut(img, lut.to(torch.uint8).view(n, c, 256))


# -- hue (ColorJitter) ------------------------------------------------------------------------

def _rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    r, g, _ = x.unbind(-1)
    lo, hi = torch.aminmax(x, dim=-1)
    eq = hi == lo
    span = hi - lo
    ones = torch.ones_like(hi)
    s = span / torch.where(eq, ones, hi)
    div = torch.where(eq, ones, span).unsqueeze(-1)
    rc, gc, bc = ((hi.unsqueeze(-1) - x) / div).unbind(-1)
    not_r = hi != r
    is_g = hi == g
    h = (bc - gc) * ~not_r + (rc + 2.0 - bc) * (is_g & not_r) + (gc + 4.0 - rc) * (not_r & ~is_g)
    h = (h / 6.0 + 1.0).fmod(1.0)
    return torch.stack((h, s, hi), -1)


def _hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    h, s, v = x.unbind(-1)
    h6 = h * 6
    i = torch.floor(h6)
    f = h6 - i
    i = i.to(torch.int64).remainder_(6)
    p = ((1.0 - s) * v).clamp_(0.0, 1.0)
    q = ((1.0 - s * f) * v).clamp_(0.0, 1.0)
    t = ((1.0 - s + s * f) * v).clamp_(0.0, 1.0)
    vpqt = torch.stack((v, p, q, t), -1)
    select = torch.tensor([[0, 3, 1], [2, 0, 1], [1, 0, 3], [1, 2, 0], [3, 1, 0], [0, 1, 2]],
                          device=x.device)
    return vpqt.gather(-1, select[i])


def adjust_hue(img: torch.Tensor, factor: float) -> torch.Tensor:
    """Rotate the hue by ``factor`` (in [-0.5, 0.5]) turns, through torchvision's HSV
    conversion in [0, 1] floats."""
    if factor == 0:
        return img
    hsv = _rgb_to_hsv(img.to(torch.float32).div_(255.0))
    hsv[..., 0].add_(float(factor)).remainder_(1.0)
    # torchvision's to_dtype(float -> uint8, scale=True): x * (256 - 1e-3), truncated
    return _hsv_to_rgb(hsv).mul_(256.0 - 1e-3).to(torch.uint8)


# -- geometry ---------------------------------------------------------------------------------

def inverse_affine(center: Sequence[float], angle: float, translate: Sequence[float],
                   scale: float, shear: Sequence[float]) -> list[float]:
    """The 2x3 output->input matrix of torchvision's ``_get_inverse_affine_matrix``:
    M = T * C * R * S * SHy * SHx * C^-1, angles in degrees, ``center`` relative to the
    frame's centre."""
    rot = math.radians(angle)
    sx, sy = math.radians(shear[0]), math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    m = [v / scale for v in (d, -b, 0.0, -c, a, 0.0)]
    m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty) + cx
    m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty) + cy
    return m


def _source_grid(matrix: Sequence[float], h: int, w: int) -> torch.Tensor:
    """(1, H, W, 2) grid_sample coordinates (align_corners=False) of each output pixel."""
    theta = torch.tensor(matrix, dtype=torch.float32).view(2, 3)
    xs = torch.linspace((1.0 - w) * 0.5, (w - 1.0) * 0.5, steps=w)
    ys = torch.linspace((1.0 - h) * 0.5, (h - 1.0) * 0.5, steps=h)
    base = torch.stack([xs.expand(h, w), ys.unsqueeze(1).expand(h, w), torch.ones(h, w)], -1)
    scaled = theta.t() / torch.tensor([0.5 * w, 0.5 * h])
    return (base.view(1, h * w, 3) @ scaled).view(1, h, w, 2)


def affine(img: torch.Tensor, *, angle: float = 0.0, translate: Sequence[float] = (0.0, 0.0),
           shear: Sequence[float] = (0.0, 0.0), center: Sequence[float] | None = None,
           interpolation: str = "nearest", fill: Sequence[float] = (0.0, 0.0, 0.0)) -> torch.Tensor:
    """torchvision's ``F.affine`` (scale 1) on every frame: rotate ``angle`` degrees
    clockwise, ``translate`` (x, y) pixels, ``shear`` (x, y) degrees, around ``center``
    (pixels; default the frame's centre); uncovered pixels get ``fill``.

    ``nearest`` gathers the uint8 pixels directly (the source pixel grid_sample's nearest
    mode picks: round half to even); ``bilinear`` samples all frames in one
    ``grid_sample`` call.
    """
    n, h, w, c = img.shape
    center_f = (0.0, 0.0) if center is None else (center[0] - w * 0.5, center[1] - h * 0.5)
    grid = _source_grid(inverse_affine(center_f, angle, translate, 1.0, shear), h, w).to(img.device)
    fill_t = torch.tensor([float(v) for v in fill], dtype=torch.float32, device=img.device)
    if interpolation == "nearest":
        gx = ((grid[0, ..., 0] + 1) * w - 1).div_(2).round_()
        gy = ((grid[0, ..., 1] + 1) * h - 1).div_(2).round_()
        inside = (gx >= 0) & (gx <= w - 1) & (gy >= 0) & (gy <= h - 1)
        index = (gy.clamp_(0, h - 1) * w + gx.clamp_(0, w - 1)).to(torch.int64)
        index = index.masked_fill_(~inside, h * w).view(-1)  # outside: the fill pixel
        fill_u8 = fill_t.round().clamp(0, 255).to(torch.uint8).expand(n, 1, c)
        src = torch.cat([img.reshape(n, h * w, c), fill_u8], 1)
        return src.index_select(1, index).view(n, h, w, c)
    x = img.permute(0, 3, 1, 2).reshape(1, n * c, h, w).to(torch.float32)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    mask = F.grid_sample(torch.ones(1, 1, h, w, device=img.device), grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False)
    out = out.view(n, c, h, w).permute(0, 2, 3, 1)
    mask = mask.view(1, h, w, 1)
    out = out.sub(fill_t).mul_(mask).add_(fill_t)
    return out.round_().clamp_(0, 255).to(torch.uint8).contiguous()


def rotate(img: torch.Tensor, angle: float, *, interpolation: str = "nearest",
           fill: Sequence[float] = (0.0, 0.0, 0.0)) -> torch.Tensor:
    """torchvision's ``F.rotate``: ``angle`` degrees counter-clockwise about the centre
    (no expand)."""
    return affine(img, angle=-angle, interpolation=interpolation, fill=fill)


def shear_x(img: torch.Tensor, v: float, **kw) -> torch.Tensor:
    """Shear by ``v`` (a slope) along x about the top-left corner, as torchvision's and
    timm's RandAugment (PIL's ``(1, v, 0, 0, 1, 0)``)."""
    return affine(img, shear=(math.degrees(math.atan(v)), 0.0), center=(0.0, 0.0), **kw)


def shear_y(img: torch.Tensor, v: float, **kw) -> torch.Tensor:
    """Shear by ``v`` along y about the top-left corner."""
    return affine(img, shear=(0.0, math.degrees(math.atan(v))), center=(0.0, 0.0), **kw)
