"""MMAction2 1.2's own transform tests, translated to zelda, as golden expectations.

From mmaction2's tests/datasets/transforms/test_sampling.py, test_processing.py and
test_formating.py (SampleFrames, CenterCrop, ThreeCrop, TenCrop, Resize, Flip,
FormatShape), with their expected values. Where MMAction2 has no test (UniformSample's
test mode, area upscaling, twice_sample, cumulative scale_factor) the expected values
are MMAction2's outputs on the same input (run once in an MMAction2 1.2 venv,
written down here). zelda raises ValueError (a recipe error) where MMAction2 raises
TypeError for a value of the wrong type.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from zelda_transforms.formatting import FormatShape
from zelda_transforms.geometry import CenterCrop, Flip, Resize, TenCrop, ThreeCrop
from zelda_transforms.sampling import SampleFrames, UniformSample

from zelda_core._errors import RecipeError
from zelda_core._registry import build

KEYS = {"frame_inds", "clip_len", "frame_interval", "num_clips"}


def _frames(total: int, start_index: int = 1) -> dict:
    """MMAction2's ``frame_results``: a rawframe sample (no video needed)."""
    return {"total_frames": total, "start_index": start_index, "rng": np.random.default_rng(0)}


# -- SampleFrames (test_sampling.py::test_sample_frames) ------------------------------------


@pytest.mark.parametrize("kw, n", [
    (dict(clip_len=3, frame_interval=1, num_clips=5), 15),
    (dict(clip_len=3, frame_interval=1, num_clips=5, keep_tail_frames=True), 15),
    (dict(clip_len=4, frame_interval=2, num_clips=5, temporal_jitter=True), 20),
    (dict(clip_len=4, frame_interval=1, num_clips=6, test_mode=True), 24),
    (dict(clip_len=3, frame_interval=1, num_clips=6, test_mode=True), 18),
])
def test_sample_frames_lengths_and_bounds(kw: dict, n: int) -> None:
    out = SampleFrames(**kw)(_frames(5))
    assert KEYS <= set(out)
    assert len(out["frame_inds"]) == n
    assert out["frame_inds"].min() >= 1 and out["frame_inds"].max() <= 5


def test_sample_frames_repeat_last_is_monotonic() -> None:
    out = SampleFrames(clip_len=5, frame_interval=1, num_clips=5, out_of_bound_opt="repeat_last")(_frames(5))
    inds = out["frame_inds"].reshape(5, 5)
    assert (np.diff(inds, axis=1) >= 0).all()
    assert inds.min() >= 1 and inds.max() <= 5


@pytest.mark.parametrize("kw, total, want", [
    (dict(clip_len=1, num_clips=8, test_mode=True), 6, [1, 2, 2, 3, 4, 5, 5, 6]),
    (dict(clip_len=1, num_clips=8, test_mode=False), 6, [1, 2, 3, 3, 4, 5, 5, 6]),
    (dict(clip_len=6, num_clips=1, test_mode=True), 5, [1, 2, 3, 4, 5, 1]),
])
def test_sample_frames_exact(kw: dict, total: int, want: list[int]) -> None:
    out = SampleFrames(**kw)(_frames(total))
    assert_array_equal(out["frame_inds"], want)


@pytest.mark.parametrize("kw, total", [
    (dict(clip_len=12, num_clips=20), 30),  # avg_interval <= 0
    (dict(clip_len=12, num_clips=2), 10),
])
def test_sample_frames_short_videos(kw: dict, total: int) -> None:
    out = SampleFrames(**kw)(_frames(total))
    assert len(out["frame_inds"]) == kw["clip_len"] * kw["num_clips"]
    assert out["frame_inds"].min() >= 1 and out["frame_inds"].max() <= total


@pytest.mark.parametrize("kw, total, want, clips", [
    (dict(clip_len=12, num_clips=2, twice_sample=True), 40,
     [*range(0, 12), *range(28, 40), *range(16, 28), *range(4, 16)], 2),
    (dict(clip_len=1, num_clips=8, twice_sample=True), 10,
     [0, 1, 3, 4, 5, 6, 8, 9, 0, 1, 2, 3, 5, 6, 7, 8], 8),
    (dict(clip_len=4, frame_interval=2, num_clips=3), 50, [0, 2, 4, 6, 22, 24, 26, 28, 43, 45, 47, 49], 3),
    (dict(clip_len=3, frame_interval=4, num_clips=5, out_of_bound_opt="repeat_last"), 20,
     [0, 4, 8, 3, 7, 11, 6, 10, 14, 8, 12, 16, 11, 15, 19], 5),
])
def test_sample_frames_test_mode_like_mmaction(kw: dict, total: int, want: list[int], clips: int) -> None:
    """twice_sample: 2 x num_clips clips, but num_clips reported as configured."""
    out = SampleFrames(test_mode=True, **kw)(_frames(total, start_index=0))
    assert_array_equal(out["frame_inds"], want)
    assert out["num_clips"] == clips


def test_twice_sample_single_clip_is_a_recipe_error() -> None:
    """MMAction2 divides by num_clips - 1 there (ZeroDivisionError); zelda refuses it
    when the recipe is checked."""
    with pytest.raises(ValueError, match="twice_sample"):
        SampleFrames(clip_len=4, num_clips=1, twice_sample=True, test_mode=True)
    with pytest.raises(RecipeError, match="num_clips"):
        build("transforms", {"type": "sample_frames", "clip_len": 4, "num_clips": 1,
                             "twice_sample": True}, key="data.test.pipeline[0]")
    SampleFrames(clip_len=1, num_clips=1, twice_sample=True, test_mode=True)  # TSN-style: fine


def test_twice_sample_views_format() -> None:
    """The doubled clips become views: format_shape reshapes by the reported num_clips."""
    s = SampleFrames(clip_len=3, num_clips=2, twice_sample=True, test_mode=True)(_frames(40, 0))
    s["imgs"] = np.zeros((len(s["frame_inds"]), 4, 4, 3), np.uint8)
    assert FormatShape("NCTHW")(s)["input_shape"] == (4, 3, 3, 4, 4)


# -- UniformSample (MMAction2 outputs) ------------------------------------------------------


@pytest.mark.parametrize("total, clip_len, num_clips, want", [
    (10, 4, 1, [1, 3, 5, 8]),
    (30, 8, 3, [0, 4, 7, 11, 14, 18, 22, 25, 1, 5, 8, 12, 15, 19, 23, 26, 2, 6, 9, 13, 16, 20, 24, 27]),
    (7, 8, 2, [0, 1, 2, 2, 3, 4, 4, 5, 0, 1, 2, 2, 3, 4, 4, 5]),
    (100, 16, 1, [3, 9, 15, 22, 28, 34, 40, 46, 53, 59, 65, 71, 77, 83, 90, 96]),
    (64, 5, 4, [2, 15, 27, 40, 52, 5, 18, 30, 43, 55, 7, 20, 32, 45, 57, 10, 23, 35, 48, 60]),
])
def test_uniform_sample_test_mode(total: int, clip_len: int, num_clips: int, want: list[int]) -> None:
    out = UniformSample(clip_len, num_clips=num_clips, test_mode=True)(_frames(total, 0))
    assert_array_equal(out["frame_inds"], want)
    assert out["num_clips"] == num_clips and out["clip_len"] == clip_len


def test_uniform_sample_train_mode_stays_in_segments() -> None:
    out = UniformSample(8, test_mode=False)(_frames(30, 0))
    seg = 29 / 8
    for i, f in enumerate(out["frame_inds"]):
        assert round(seg * i) <= f <= round(seg * (i + 1))


# -- crops (test_processing.py::TestCrops) ----------------------------------------------------


def _check_crop(origin: np.ndarray, result: np.ndarray, bboxes: np.ndarray, ten: bool = False) -> None:
    """Every view equals the source cut at its bbox (flipped for TenCrop's odd views)."""
    n = len(origin)
    bboxes = np.atleast_2d(bboxes)
    if len(bboxes) == 1:
        x0, y0, x1, y1 = bboxes[0]
        assert_array_equal(result, origin[:, y0:y1, x0:x1])
        return
    for i, (x0, y0, x1, y1) in enumerate(bboxes):
        want = origin[i % n, y0:y1, x0:x1]
        if ten and (i // n) % 2 == 1:
            want = want[:, ::-1]
        assert_array_equal(result[i], want)


def test_center_crop() -> None:
    with pytest.raises(ValueError):
        CenterCrop(0.5)
    with pytest.raises(ValueError):
        CenterCrop("224")
    imgs = np.random.default_rng(0).random((2, 240, 320, 3))
    out = CenterCrop(crop_size=224)({"imgs": imgs})
    assert_array_equal(out["crop_bbox"], [48, 8, 272, 232])
    assert out["img_shape"] == (224, 224)
    _check_crop(imgs, out["imgs"], out["crop_bbox"])


@pytest.mark.parametrize("shape, crop", [((2, 240, 120, 3), 120), ((2, 224, 224, 3), 224)])
def test_three_crop(shape: tuple, crop: int) -> None:
    with pytest.raises(ValueError):
        ThreeCrop(0.5)
    imgs = np.random.default_rng(0).random(shape)
    out = ThreeCrop(crop_size=crop)({"imgs": imgs})
    assert out["img_shape"] == (crop, crop) and len(out["imgs"]) == 3 * shape[0]
    _check_crop(imgs, out["imgs"], out["crop_bbox"])


def test_ten_crop() -> None:
    with pytest.raises(ValueError):
        TenCrop("224")
    imgs = np.random.default_rng(0).random((2, 256, 256, 3))
    out = TenCrop(crop_size=224)({"imgs": imgs})
    assert out["img_shape"] == (224, 224) and len(out["imgs"]) == 20
    _check_crop(imgs, out["imgs"], out["crop_bbox"], ten=True)


# -- Resize (test_processing.py::test_resize_lazy, non-lazy here) -------------------------------


def test_resize_rejects_bad_scales() -> None:
    for bad in (-0.5, 0, 0.0, "224", [0, 256], [-2, 256], [-1, -1], [1.5], True):
        with pytest.raises(ValueError):
            Resize(scale=bad)
    for bad in (-1, 0, 1.5, [0, 32], [-1, -1], [-5, 32]):
        with pytest.raises(ValueError):
            Resize(size=bad)
    with pytest.raises(RecipeError, match="scale"):
        build("transforms", {"type": "resize", "scale": -0.5}, key="data.train.pipeline[3]")


@pytest.mark.parametrize("scale, keep_ratio, shape, factor", [
    ([-1, 256], True, (256, 341), [341 / 320, 256 / 240]),
    ([320, 320], False, (320, 320), [1, 320 / 240]),
    ([341, 256], False, (256, 341), [341 / 320, 256 / 240]),
])
def test_resize_scales(scale: list, keep_ratio: bool, shape: tuple, factor: list) -> None:
    imgs = np.zeros((2, 240, 320, 3), np.uint8)
    out = Resize(scale=scale, keep_ratio=keep_ratio)({"imgs": imgs, "img_shape": (240, 320)})
    assert out["img_shape"] == shape and out["imgs"].shape[1:3] == shape
    assert_array_equal(out["scale_factor"], np.array(factor, dtype=np.float32))
    assert out["keep_ratio"] is keep_ratio


def test_resize_scale_factor_is_cumulative() -> None:
    s = {"imgs": np.zeros((1, 240, 320, 3), np.uint8), "img_shape": (240, 320)}
    s = Resize(scale=[-1, 256])(s)
    s = CenterCrop(crop_size=[300, 200])(s)  # a crop between leaves the factor alone
    s = Resize(scale=0.5)(s)
    assert s["img_shape"] == (100, 150)
    assert_array_equal(s["scale_factor"],
                       np.array([341 / 320, 256 / 240], np.float32) * np.array([0.5, 0.5], np.float32))
    # MMAction2, without the crop: (240, 320) -> (256, 341) -> (128, 171)
    s = Resize(scale=0.5)(Resize(scale=[-1, 256])({"imgs": np.zeros((1, 240, 320, 3), np.uint8)}))
    assert_array_equal(s["scale_factor"], np.array([341 / 320, 256 / 240], np.float32)
                       * np.array([171 / 341, 128 / 256], np.float32))
    assert s["scale_factor"][0] == np.float32(0.5343749523162842)  # MMAction2's value


IMG = np.stack([
    [[172, 192, 195, 211], [36, 216, 58, 39], [88, 25, 9, 208]],
    [[47, 67, 103, 21], [87, 88, 193, 87], [81, 77, 148, 243]],
    [[117, 251, 9, 242], [70, 140, 230, 174], [165, 72, 115, 197]],
], axis=-1).astype(np.uint8)
"""A 3x4 RGB image (MMAction2's outputs below are from cv2.resize on it)."""


def test_resize_area_upscale_like_opencv() -> None:
    """Area upscaling in OpenCV (so MMAction2) is linear with area-placed weights:
    2x is pixel replication; 4x3 -> 10x5 below. zelda was up to 166 levels off."""
    up2 = Resize(scale=[8, 6], keep_ratio=False, interpolation="area")({"imgs": IMG[None]})
    assert_array_equal(up2["imgs"][0], IMG.repeat(2, axis=0).repeat(2, axis=1))
    assert_array_equal(up2["scale_factor"], [2.0, 2.0])
    odd = Resize(scale=[10, 5], keep_ratio=False, interpolation="area")({"imgs": IMG[None]})
    want_g = [[47, 47, 57, 67, 67, 103, 103, 62, 21, 21],
              [60, 60, 67, 74, 74, 133, 133, 88, 43, 43],
              [87, 87, 88, 88, 88, 193, 193, 140, 87, 87],
              [83, 83, 82, 81, 81, 163, 163, 177, 191, 191],
              [81, 81, 79, 77, 77, 148, 148, 196, 243, 243]]
    got = odd["imgs"][0][..., 1].astype(int)
    assert np.abs(got - want_g).max() <= 1  # OpenCV's fixed-point rounding vs float


def test_resize_fuse_switch() -> None:
    """fuse = false keeps the resize out of the decoder (MMAction2's exact path)."""
    assert Resize(size=32).fusable and not Resize(size=32, fuse=False).fusable
    t = build("transforms", {"type": "resize", "size": 32, "fuse": False}, key="x")
    assert t.fusable is False


# -- Flip (test_processing.py::TestFlip) ---------------------------------------------------


def test_flip() -> None:
    with pytest.raises(ValueError):
        Flip(direction="vertically")
    rng = np.random.default_rng(0)
    imgs = rng.random((2, 64, 64, 3))
    out = Flip(flip_ratio=0, direction="horizontal")({"imgs": imgs.copy()})
    assert out["flip"] is False and out["flip_direction"] == "horizontal"
    assert_array_equal(out["imgs"], imgs)
    out = Flip(flip_ratio=1, direction="horizontal")({"imgs": imgs.copy()})
    assert out["flip"] is True
    assert_array_equal(out["imgs"], imgs[:, :, ::-1])
    out = Flip(flip_ratio=1, direction="vertical")({"imgs": imgs.copy()})
    assert_array_equal(out["imgs"], imgs[:, ::-1])
    assert Flip(1, "horizontal", {"4": 6})({"imgs": imgs, "label": 4})["label"] == 6
    assert Flip(1, "horizontal", {"4": 6})({"imgs": imgs, "label": 3})["label"] == 3


# -- FormatShape (test_formating.py::test_format_shape) ----------------------------------------


def test_format_shape() -> None:
    with pytest.raises(ValueError):
        FormatShape("NHWC")
    rnd = np.random.default_rng(0).standard_normal
    s = {"imgs": rnd((3, 224, 224, 3)), "num_clips": 1, "clip_len": 3}
    assert FormatShape("NCHW")(s)["input_shape"] == (3, 3, 224, 224)
    s = {"imgs": rnd((3, 224, 224, 3)), "num_clips": 1, "clip_len": 3}
    assert FormatShape("NCTHW")(s)["input_shape"] == (1, 3, 3, 224, 224)
    s = {"imgs": rnd((18, 224, 224, 3)), "num_clips": 2, "clip_len": 3}
    out = FormatShape("NCTHW")(s)
    assert out["input_shape"] == (6, 3, 3, 224, 224) and {"imgs", "input_shape"} <= set(out)
