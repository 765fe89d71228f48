"""Transforms: geometry as MMAction2 defines it, formatting, packing, the pipeline and fusion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from media import frame_ids, make_video
from zelda_transforms.formatting import FormatShape, Pack
from zelda_transforms.geometry import (
    CenterCrop,
    Flip,
    MultiScaleCrop,
    RandomCrop,
    RandomResizedCrop,
    Resize,
    TenCrop,
    ThreeCrop,
)

from zelda_core._data.rng import sample_rng
from zelda_core._errors import DataError, DecodeError
from zelda_core._pipeline import Pipeline
from zelda_core.api import VideoOpener


def coords(n: int, h: int, w: int) -> np.ndarray:
    """Frames whose pixel (y, x) of frame i holds (x, y, i): crops reveal their offsets."""
    imgs = np.zeros((n, h, w, 3), np.uint8)
    imgs[..., 0] = np.arange(w)[None, None, :] % 256
    imgs[..., 1] = np.arange(h)[None, :, None] % 256
    imgs[..., 2] = np.arange(n)[:, None, None]
    return imgs


def origin(view: np.ndarray) -> tuple[int, int]:
    """(x, y) of a crop's top-left pixel, and whether it is mirrored."""
    return int(view[0, 0, 0]), int(view[0, 0, 1])


def run(t, imgs, **extra):
    return t({"imgs": imgs, "rng": np.random.default_rng(0), **extra})


# -- resize ----------------------------------------------------------------------------------

@pytest.mark.parametrize("params, hw, want", [
    ({"size": 256}, (240, 320), (256, 341)),               # short side, MMAction2 rounding
    ({"size": 256}, (320, 256), (320, 256)),
    ({"size": [224, 224]}, (240, 320), (224, 224)),        # exact (h, w)
    ({"size": [-1, 160]}, (240, 320), (120, 160)),         # width fixed, aspect kept
    ({"scale": [-1, 256]}, (240, 320), (256, 341)),        # MMAction2 Resize(scale=(-1, 256))
    ({"scale": [340, 256], "keep_ratio": False}, (240, 320), (256, 340)),  # (w, h)
    ({"scale": [320, 240]}, (256, 340), (240, 319)),       # largest within, keep ratio
    ({"scale": 0.5}, (240, 320), (120, 160)),
])
def test_resize_target_sizes(params, hw, want):
    r = Resize(**params)
    assert r.target_size(*hw) == want
    out = run(r, coords(3, *hw))
    assert out["imgs"].shape == (3, *want, 3) and out["img_shape"] == want
    assert out["imgs"].dtype == np.uint8


def test_resize_values_bilinear():
    imgs = np.full((2, 40, 60, 3), 77, np.uint8)
    out = run(Resize(size=20), imgs)["imgs"]
    assert out.shape == (2, 20, 30, 3) and np.all(out == 77)


def test_resize_needs_one_of_size_or_scale():
    with pytest.raises(ValueError, match="exactly one"):
        Resize()
    with pytest.raises(ValueError, match="exactly one"):
        Resize(size=1, scale=[1, 2])


# -- crops -----------------------------------------------------------------------------------

def test_center_crop_offsets():
    out = run(CenterCrop(224), coords(2, 256, 341))
    assert out["imgs"].shape == (2, 224, 224, 3)
    assert origin(out["imgs"][0]) == ((341 - 224) // 2, (256 - 224) // 2)
    assert out["crop_bbox"].tolist() == [58, 16, 282, 240]
    out = run(CenterCrop([100, 50]), coords(1, 80, 120))   # [w, h] like MMAction2
    assert out["imgs"].shape == (1, 50, 100, 3) and origin(out["imgs"][0]) == (10, 15)


def test_crop_too_large_is_a_clear_error():
    with pytest.raises(DataError, match="does not fit"):
        run(CenterCrop(224), coords(1, 100, 100), filename="x.mp4")


def test_random_crop_mmaction_offsets_exclusive():
    seen = set()
    for s in range(200):
        out = RandomCrop(8)({"imgs": coords(1, 10, 12), "rng": np.random.default_rng(s)})
        seen.add(origin(out["imgs"][0]))
    xs, ys = {x for x, _ in seen}, {y for _, y in seen}
    assert xs == {0, 1, 2, 3} and ys == {0, 1}    # randint(0, W - size): last offset excluded


def test_three_crop_offsets_landscape_and_portrait():
    out = run(ThreeCrop(224), coords(2, 224, 300))
    assert out["imgs"].shape == (6, 224, 224, 3)
    step = (300 - 224) // 2
    assert [origin(out["imgs"][v * 2]) for v in range(3)] == [(0, 0), (2 * step, 0), (step, 0)]
    assert out["imgs"][1, 0, 0, 2] == 1            # crop-major: frames 0, 1 of view 0
    out = run(ThreeCrop(224), coords(1, 300, 224))
    assert [origin(out["imgs"][v]) for v in range(3)] == [(0, 0), (0, 2 * 38), (0, 38)]
    with pytest.raises(DataError, match="one side equal"):
        run(ThreeCrop(100), coords(1, 224, 300))


def test_ten_crop_offsets_and_flips():
    h, w = 256, 341
    out = run(TenCrop(224), coords(2, h, w))
    imgs = out["imgs"]
    assert imgs.shape == (20, 224, 224, 3)
    ws, hs = (w - 224) // 4, (h - 224) // 4
    corners = [(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs)]
    for k, (x, y) in enumerate(corners):
        plain, flipped = imgs[(2 * k) * 2], imgs[(2 * k + 1) * 2]
        assert origin(plain) == (x, y)
        assert int(flipped[0, 0, 0]) == (x + 223) % 256 and int(flipped[0, -1, 0]) == x
        assert np.array_equal(flipped, plain[:, ::-1])
    assert out["crop_bbox"].shape == (20, 4)


def test_random_resized_crop_bounds_and_reproducible():
    t = RandomResizedCrop()
    for s in range(50):
        a = t({"imgs": coords(1, 240, 320), "rng": np.random.default_rng(s)})
        h, w = a["img_shape"]
        x, y = origin(a["imgs"][0])
        assert 0 < h <= 240 and 0 < w <= 320 and x + w <= 320 and y + h <= 240
        assert 0.08 * 240 * 320 * 0.9 <= h * w <= 240 * 320
        b = t({"imgs": coords(1, 240, 320), "rng": np.random.default_rng(s)})
        assert np.array_equal(a["imgs"], b["imgs"])


def test_multi_scale_crop_candidates():
    t = MultiScaleCrop(224, scales=[1, 0.875, 0.75, 0.66], max_wh_scale_gap=1)
    base = 256
    sizes = [int(base * s) for s in (1, 0.875, 0.75, 0.66)]  # 256, 224, 192, 168
    allowed = {(sizes[j], sizes[i]) for i in range(4) for j in range(4) if abs(i - j) <= 1}
    for s in range(100):
        out = t({"imgs": coords(1, 256, 340), "rng": np.random.default_rng(s)})
        h, w = out["img_shape"]
        assert (w, h) in allowed
        x, y = origin(out["imgs"][0])
        ws, hs = (340 - w) // 4, (256 - h) // 4
        assert (x, y) in {(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs)}
    snap = MultiScaleCrop(224, scales=[0.88])     # int(256 * 0.88) = 225 snaps to 224
    assert run(snap, coords(1, 256, 300))["img_shape"] == (224, 224)


def test_flip_and_label_map():
    imgs = coords(2, 4, 6)
    out = Flip(flip_ratio=1.0, flip_label_map={"3": 5})({"imgs": imgs, "label": 3,
                                                         "rng": np.random.default_rng(0)})
    assert out["flip"] and out["label"] == 5
    assert np.array_equal(out["imgs"], imgs[:, :, ::-1])
    out = Flip(flip_ratio=0.0, flip_label_map={"3": 5})({"imgs": imgs, "label": 3,
                                                         "rng": np.random.default_rng(0)})
    assert not out["flip"] and out["label"] == 3 and out["imgs"] is imgs
    out = Flip(1.0, direction="vertical")({"imgs": imgs, "rng": np.random.default_rng(0)})
    assert np.array_equal(out["imgs"], imgs[:, ::-1])
    flips = [Flip()({"imgs": imgs, "rng": sample_rng(0, 0, i)})["flip"] for i in range(200)]
    assert 60 < sum(flips) < 140


# -- format and pack -------------------------------------------------------------------------

def test_format_shape_ncthw_with_crops_and_clips():
    n_clips, clip_len = 2, 4
    imgs = coords(n_clips * clip_len, 6, 8)
    out = run(ThreeCrop([6, 6]), imgs, num_clips=n_clips, clip_len=clip_len)
    out = FormatShape()(out)
    v = out["imgs"]
    assert v.shape == (3 * n_clips, 3, clip_len, 6, 6)
    # view 1 = crop 0, clip 1: frames 4..7
    assert v[1, 2, :, 0, 0].tolist() == [4, 5, 6, 7]
    packed = Pack()(out)
    assert packed["inputs"].dtype == torch.uint8 and packed["inputs"].is_contiguous()
    assert tuple(packed["inputs"].shape) == v.shape and packed["label"] == -1


def test_pack_meta_is_plain():
    sample = {"imgs": np.zeros((1, 3, 1, 2, 2), np.uint8), "label": np.int64(1), "filename": "a",
              "img_shape": (2, 2), "total_frames": np.int64(9)}
    out = Pack()(sample)
    assert out["meta"] == {"filename": "a", "label": 1, "img_shape": (2, 2), "total_frames": 9}
    assert type(out["meta"]["total_frames"]) is int


# -- the pipeline: shapes end to end with a real decoder, fusion ------------------------------

TRAIN = [{"type": "segment_sample", "clip_len": 8}, {"type": "decode"},
         {"type": "resize", "size": 32}, {"type": "random_resized_crop"},
         {"type": "resize", "size": [24, 24]}, {"type": "flip"},
         {"type": "format_shape"}, {"type": "pack"}]
VAL = [{"type": "sample_frames", "clip_len": 4, "frame_interval": 2, "num_clips": 3,
        "test_mode": True}, {"type": "decode"}, {"type": "resize", "size": 32},
       {"type": "three_crop", "crop_size": 32}, {"type": "format_shape"}, {"type": "pack"}]


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return str(make_video(tmp_path_factory.mktemp("v") / "a.mp4", frames=30, pattern="index"))


def sample_for(path, decoder_name, index=0):
    return {"filename": path, "label": 1, "rng": sample_rng(0, 0, index),
            "opener": VideoOpener(decoder_name)}


def test_pipeline_train_shapes(video, decoder_name):
    p = Pipeline.from_config(TRAIN)
    assert p.names[1] == "decode+resize" and len(p) == 7
    out = p(sample_for(video, decoder_name))
    assert set(out) == {"inputs", "label", "meta"}
    assert tuple(out["inputs"].shape) == (1, 3, 8, 24, 24) and out["label"] == 1


def test_pipeline_val_shapes_and_frames(video, decoder_name):
    timings: dict[str, float] = {}
    out = Pipeline.from_config(VAL)(sample_for(video, decoder_name), timings)
    # 64x48 -> short side 32: 43x32; three crops x three clips
    assert tuple(out["inputs"].shape) == (9, 3, 4, 32, 32)
    assert set(timings) == {"sample_frames", "decode+resize", "three_crop", "format_shape", "pack"}
    # the decoded frames are the sampled ones: ori 7, max_offset 23, offsets 0, 11.5->12, 23
    frames = out["inputs"][0:3, 0, :, 16, 16].numpy()      # crop 0, clips 0..2
    assert [frame_ids(f[:, None, None, None].repeat(3, -1)) for f in frames] == [
        [0, 2, 4, 6], [12, 14, 16, 18], [23, 25, 27, 29]]


def test_fusion_gives_same_result_as_separate_resize(video, decoder_name):
    steps = [{"type": "sample_frames", "clip_len": 4, "test_mode": True}, {"type": "decode"},
             {"type": "resize", "size": [48, 64]}, {"type": "format_shape"}, {"type": "pack"}]
    fused = Pipeline.from_config(steps)
    plain = Pipeline.from_config(steps, fuse=False)
    assert fused.fused and not plain.fused and plain.names[2] == "resize"
    a = fused(sample_for(video, decoder_name))["inputs"]
    b = plain(sample_for(video, decoder_name))["inputs"]
    assert torch.equal(a, b)  # native size: no interpolation at all
    steps[2] = {"type": "resize", "size": 24}
    a = Pipeline.from_config(steps)(sample_for(video, decoder_name))["inputs"]
    b = Pipeline.from_config(steps, fuse=False)(sample_for(video, decoder_name))["inputs"]
    assert a.shape == b.shape == (1, 3, 4, 24, 32)
    assert (a.int() - b.int()).abs().float().mean() < 3   # flat frames: interpolation agrees


@pytest.mark.parametrize("size", [[24, 24], [40, 30], [48, 48]])
def test_fused_exact_resize_changing_aspect(video, decoder_name, size):
    steps = [{"type": "sample_frames", "clip_len": 2, "test_mode": True}, {"type": "decode"},
             {"type": "resize", "size": size}, {"type": "format_shape"}, {"type": "pack"}]
    out = Pipeline.from_config(steps)(sample_for(video, decoder_name))
    assert tuple(out["inputs"].shape) == (1, 3, 2, *size)


def test_resize_with_other_interpolation_is_not_fused():
    steps = [{"type": "segment_sample", "clip_len": 2}, {"type": "decode"},
             {"type": "resize", "size": 24, "interpolation": "area"}, {"type": "pack"}]
    assert Pipeline.from_config(steps).names == ["segment_sample", "decode", "resize", "pack"]


def test_fusion_does_not_change_the_original_transforms():
    from zelda_transforms.loading import Decode

    d, r = Decode(), Resize(size=8)
    p = Pipeline([d, r])
    assert d.resize is None and p.transforms[0].resize is r and p.names == ["Decode+Resize"]


def test_unreadable_video_raises_decode_error(tmp_path, decoder_name):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 10)
    with pytest.raises(DecodeError, match="bad.mp4"):
        Pipeline.from_config(VAL)(sample_for(str(bad), decoder_name))


def test_shared_kinetics_val_pipeline(shared_dir, decoder_name):
    video = shared_dir / "data" / "kinetics2_tiny" / "val" / "typing1.mp4"
    if not video.exists():
        video = next((shared_dir / "data" / "kinetics2_tiny" / "val").glob("*.mp4"))
    steps = [{"type": "segment_sample", "clip_len": 16, "num_clips": 5, "test_mode": True},
             {"type": "decode"}, {"type": "resize", "size": 256},
             {"type": "center_crop", "crop_size": 224}, {"type": "format_shape"}, {"type": "pack"}]
    out = Pipeline.from_config(steps)(sample_for(str(video), decoder_name))
    assert tuple(out["inputs"].shape) == (5, 3, 16, 224, 224)


def test_pipeline_init_uniform_ten_crop_and_multiscale(video, decoder_name):
    steps = [{"type": "init"}, {"type": "uniform_sample", "clip_len": 4, "num_clips": 2,
                                "test_mode": True},
             {"type": "decode"}, {"type": "resize", "size": 32}, {"type": "ten_crop", "crop_size": 24},
             {"type": "format_shape"}, {"type": "pack"}]
    out = Pipeline.from_config(steps)(sample_for(video, decoder_name))
    assert tuple(out["inputs"].shape) == (20, 3, 4, 24, 24)
    steps = [{"type": "sample_frames", "clip_len": 4, "frame_interval": 2},
             {"type": "decode"}, {"type": "resize", "size": 40},
             {"type": "multi_scale_crop", "input_size": 32, "scales": [1, 0.875, 0.75]},
             {"type": "resize", "size": [32, 32]}, {"type": "flip"},
             {"type": "format_shape"}, {"type": "pack"}]
    out = Pipeline.from_config(steps)(sample_for(video, decoder_name))
    assert tuple(out["inputs"].shape) == (1, 3, 4, 32, 32)
