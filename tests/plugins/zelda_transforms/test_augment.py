"""Clip-consistent augmentation: each transform against a frame-by-frame reference.

The reference is PIL (what timm's RandAugment runs, frame by frame: ImageOps,
ImageEnhance, Image.transform/rotate) with the parameters the transform drew and reported;
where torchvision is installed (the tests_torchvision session) also
torchvision.transforms.v2.functional per frame. The clip comes from a real video.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from extras import need
from zelda_transforms.augment import (
    TIMM_OPS,
    TRIVIAL_OPS,
    ColorJitter,
    Grayscale,
    RandAugment,
    TrivialAugmentWide,
    apply_op,
    to_frames,
    to_tensor,
)
from zelda_transforms.erasing import RandomErasing

from zelda_testing import check_transform

pytestmark = pytest.mark.decoder_independent

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "kinetics2_tiny"
EXACT = {"Equalize", "Invert", "Posterize", "Solarize", "SolarizeAdd",
         "Brightness", "Identity"}
"""Ops whose uint8 result is PIL's exactly; the enhance ops and AutoContrast round
differently from PIL (torchvision's float kernels: within 1); geometry differs only where a source coordinate falls exactly between two
pixels (PIL floors, torchvision rounds half to even)."""
GEOMETRY = {"Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY", "TranslateXRel",
            "TranslateYRel"}


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """4 real frames (64x80) of a kinetics2_tiny video, far apart (different content)."""
    from zelda_core.api import VideoOpener

    name = (DATA / "kinetics_tiny_train_video.txt").read_text().split()[0]
    reader = VideoOpener("pyav")(str(DATA / "train" / name))
    try:
        return reader.get_frames(np.array([0, 20, 40, 60]), size=(64, 80))
    finally:
        reader.close()


def pil_op(img, op: str, arg, fill, interpolation: str = "nearest"):
    """One op on one PIL image, as timm's auto_augment.py does it."""
    from PIL import Image, ImageEnhance, ImageOps

    resample = Image.NEAREST if interpolation == "nearest" else Image.BILINEAR
    fill = tuple(int(round(v)) for v in fill)
    if op == "Identity":
        return img
    if op in ("AutoContrast", "Equalize", "Invert"):
        return getattr(ImageOps, op.lower() if op != "AutoContrast" else "autocontrast")(img)
    if op == "Posterize":
        return ImageOps.posterize(img, arg) if arg < 8 else img
    if op == "Solarize":  # a float threshold meets uint8 values in float32, as in torch
        return ImageOps.solarize(img, float(np.float32(arg)))
    if op == "SolarizeAdd":
        return img.point([min(255, i + arg) if i < 128 else i for i in range(256)] * 3)
    if op in ("Color", "Contrast", "Brightness", "Sharpness"):
        return getattr(ImageEnhance, op)(img).enhance(arg)
    if op == "Rotate":
        return img.rotate(arg, resample=resample, fillcolor=fill)
    matrix = {"ShearX": (1, arg, 0, 0, 1, 0), "ShearY": (1, 0, 0, arg, 1, 0),
              "TranslateX": (1, 0, -arg, 0, 1, 0), "TranslateY": (1, 0, 0, 0, 1, -arg),
              "TranslateXRel": (1, 0, -arg, 0, 1, 0), "TranslateYRel": (1, 0, 0, 0, 1, -arg)}[op]
    return img.transform(img.size, Image.AFFINE, matrix, resample, fillcolor=fill)


def check_steps(out: np.ndarray, frames: np.ndarray, steps: list[dict], fill,
                interpolation: str, what: str) -> None:
    """``out`` is the reported steps run on the clip, and each step on each frame matches
    PIL given the same input (step by step: PIL's and torchvision's roundings differ by a
    unit, which a later Posterize or Solarize could turn into a large difference)."""
    from PIL import Image

    t = to_tensor(frames)
    for s in steps:
        before = to_frames(t).copy()
        op = s["op"].replace("Rel", "")
        t = apply_op(t, op, s["arg"], interpolation=interpolation, fill=fill)
        ref = np.stack([np.asarray(pil_op(Image.fromarray(f), s["op"], s["arg"], fill))
                        for f in before])
        assert_close(to_frames(t), ref, {s["op"]}, f"{what}, {s}")
    assert np.array_equal(out, to_frames(t)), f"{what}: not the reported steps"


def assert_close(ours: np.ndarray, ref: np.ndarray, ops: set[str], what: str) -> None:
    d = np.abs(ours.astype(np.int16) - ref.astype(np.int16))
    if ops & GEOMETRY:  # half-pixel ties only: a few pixels per frame
        assert (d > 0).mean() < 0.01, f"{what}: {(d > 0).mean():.2%} of values differ"
    elif ops <= EXACT:
        assert d.max() == 0, f"{what}: differs by up to {d.max()}"
    else:
        assert d.max() <= len(ops), f"{what}: differs by up to {d.max()}"


def test_rand_augment_is_timms_policy_frame_by_frame(clip):
    need("PIL", "plot")
    t = RandAugment(num_ops=4, magnitude=7, magnitude_std=0.5, interpolation="nearest")
    seen: set[str] = set()
    magnitudes = []
    for seed in range(40):
        sample = t({"imgs": clip[:, :, ::-1], "rng": np.random.default_rng(seed)})
        steps = sample["rand_augment"]
        seen |= {s["op"] for s in steps}
        magnitudes += [s["magnitude"] for s in steps]
        check_steps(sample["imgs"], clip[:, :, ::-1], steps, t.fill, "nearest", f"seed {seed}")
    assert seen == set(TIMM_OPS)  # every op ran at least once
    # mstd 0.5: magnitudes spread around 7, clipped to [0, 10]
    assert 6.7 < np.mean(magnitudes) < 7.3 and 0.35 < np.std(magnitudes) < 0.65


def test_rand_augment_levels_are_timms():
    t = RandAugment(num_ops=1, magnitude=7, prob=1.0)
    rng = np.random.default_rng(0)
    assert t._arg("Brightness", 7, rng, 10, 10) == pytest.approx(0.1 + 1.8 * 0.7)
    assert abs(t._arg("Rotate", 7, rng, 10, 10)) == pytest.approx(21.0)
    assert abs(t._arg("ShearX", 7, rng, 10, 10)) == pytest.approx(0.21)
    assert abs(t._arg("TranslateXRel", 7, rng, 100, 200)) == pytest.approx(0.45 * 0.7 * 200)
    assert t._arg("Posterize", 7, rng, 10, 10) == 2
    assert t._arg("Solarize", 7, rng, 10, 10) == 179
    assert t._arg("SolarizeAdd", 7, rng, 10, 10) == 77
    # prob: each op runs with probability 0.5 by default (timm's rand_augment_ops)
    counts = [len(RandAugment(num_ops=4)({"imgs": np.zeros((1, 8, 8, 3), np.uint8),
                                          "rng": np.random.default_rng(s)})["rand_augment"])
              for s in range(400)]
    assert 1.8 < np.mean(counts) < 2.2


def test_trivial_augment_is_torchvisions_space_frame_by_frame(clip):
    need("PIL", "plot")
    t = TrivialAugmentWide()
    seen = set()
    for seed in range(60):
        sample = t({"imgs": clip, "rng": np.random.default_rng(seed)})
        step = sample["trivial_augment"]
        seen.add(step["op"])
        check_steps(sample["imgs"], clip, [step], t.fill, "nearest", f"seed {seed}")
    assert seen == set(TRIVIAL_OPS)
    bins, signed = t.magnitudes("Rotate")
    assert signed and bins[-1] == pytest.approx(135.0) and len(bins) == 31
    assert list(t.magnitudes("Posterize")[0][[0, 15, 30]]) == [8, 5, 2]


def test_color_jitter_and_grayscale_frame_by_frame(clip):
    need("PIL", "plot")
    from PIL import Image

    t = ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4)
    orders = set()
    for seed in range(10):
        sample = t({"imgs": clip, "rng": np.random.default_rng(seed)})
        p = sample["color_jitter"]
        orders.add(tuple(p["order"]))
        names = {"brightness": "Brightness", "contrast": "Contrast", "saturation": "Color"}
        steps = [{"op": names[n], "arg": p[n]} for n in p["order"]]
        check_steps(sample["imgs"], clip, steps, (0, 0, 0), "nearest", f"seed {seed}")
    assert len(orders) > 3  # the order is drawn too
    # hue: PIL's HSV round trip per frame (torchvision's PIL path), within 2
    sample = ColorJitter(hue=0.2)({"imgs": clip, "rng": np.random.default_rng(1)})
    h = sample["color_jitter"]["hue"]
    ref = []
    for f in clip:
        hh, s, v = Image.fromarray(f).convert("HSV").split()
        hh = hh.point(lambda x: (x + int(round(h * 255))) % 256)
        ref.append(np.asarray(Image.merge("HSV", (hh, s, v)).convert("RGB")))
    d = np.abs(sample["imgs"].astype(int) - np.stack(ref))
    assert np.mean(d) < 1.5 and np.percentile(d, 99) <= 4
    # grayscale: 0.2989 R + 0.587 G + 0.114 B, truncated, in all channels
    g = Grayscale(p=1.0)({"imgs": clip, "rng": np.random.default_rng(0)})
    want = (clip[..., 0] * np.float32(0.2989) + clip[..., 1] * np.float32(0.587)
            + clip[..., 2] * np.float32(0.114)).astype(np.uint8)
    assert g["grayscale"] is True and np.array_equal(g["imgs"], np.repeat(want[..., None], 3, -1))
    assert Grayscale(p=0.0)({"imgs": clip})["grayscale"] is False


@pytest.mark.parametrize("mode", ["const", "rand", "pixel"])
def test_random_erasing_same_box_every_frame(clip, mode):
    t = RandomErasing(p=1.0, mode=mode, count=[1, 3])
    counts = set()
    for seed in range(20):
        rng = np.random.default_rng(seed)
        sample = t({"imgs": clip[:, 2:62, 3:78], "rng": rng})
        boxes = t.make_params(np.random.default_rng(seed), 60, 75)  # the same draws
        assert [b["box"] for b in boxes] == [b["box"] for b in sample["random_erasing"]]
        counts.add(len(boxes))
        ref = []
        for f in clip[:, 2:62, 3:78]:
            f = f.copy()
            for b in boxes:
                x0, y0, x1, y1 = b["box"]
                f[y0:y1, x0:x1] = b["values"]
                area = (x1 - x0) * (y1 - y0) / (60 * 75)
                assert 0.02 / 3 - 0.01 <= area <= 1 / 3 + 0.01
            ref.append(f)
        assert np.array_equal(sample["imgs"], np.stack(ref))
        if mode == "const":  # the mean colour: zero after the model's normalization
            assert all(b["color"] == [124, 116, 104] for b in sample["random_erasing"])
    assert counts == {1, 2, 3}
    assert clip.flags.writeable and RandomErasing(p=0.0)({"imgs": clip})["random_erasing"] == []


def test_bilinear_geometry_against_pil(clip):
    """interpolation = "bilinear": within 1 of PIL's bilinear but for the fill's edge
    (torchvision blends the fill in by a sampled mask, PIL does not)."""
    need("PIL", "plot")
    from PIL import Image

    for op, arg in [("Rotate", 17.3), ("ShearX", 0.21), ("TranslateX", 7.6)]:
        ours = to_frames(apply_op(to_tensor(clip), op, arg, interpolation="bilinear",
                                  fill=(128, 128, 128)))
        ref = []
        for f in clip:
            img = Image.fromarray(f)
            if op == "Rotate":
                ref.append(np.asarray(img.rotate(arg, resample=Image.BILINEAR, fillcolor=(128,) * 3)))
            else:
                m = (1, arg, 0, 0, 1, 0) if op == "ShearX" else (1, 0, -arg, 0, 1, 0)
                ref.append(np.asarray(img.transform(img.size, Image.AFFINE, m, Image.BILINEAR,
                                                    fillcolor=(128,) * 3)))
        d = np.abs(ours.astype(int) - np.stack(ref))
        assert (d > 1).mean() < 0.03, (op, (d > 1).mean())


def test_ops_see_each_frame_alone(clip):
    """The statistics an op reads (contrast mean, autocontrast range, histogram) are per
    frame: a clip's frame equals that frame augmented alone. Views (crops, flips) reach the
    ops as the frames they show."""
    for view in (clip[:, :, ::-1], clip[:, ::-1, 3:50], clip[::-1, 5:, ::-2]):
        assert np.array_equal(to_frames(to_tensor(view)), np.ascontiguousarray(view))
    erased = RandomErasing(p=1.0)({"imgs": clip[:, :, ::-1], "rng": np.random.default_rng(3)})
    (x0, y0, x1, y1), = [b["box"] for b in erased["random_erasing"]]
    keep = np.ones(clip.shape[:3], bool)
    keep[:, y0:y1, x0:x1] = False
    assert np.array_equal(erased["imgs"][keep], clip[:, :, ::-1][keep])
    assert (erased["imgs"][:, y0:y1, x0:x1] == [124, 116, 104]).all()
    for op, arg in [("Contrast", 1.7), ("AutoContrast", None), ("Equalize", None),
                    ("Sharpness", 1.9), ("Rotate", 12.0)]:
        whole = to_frames(apply_op(to_tensor(clip), op, arg))
        for i in range(len(clip)):
            alone = to_frames(apply_op(to_tensor(clip[i:i + 1]), op, arg))
            assert np.array_equal(whole[i:i + 1], alone), (op, i)


@pytest.mark.parametrize("t", [
    RandAugment(num_ops=4, magnitude=7, magnitude_std=0.5), TrivialAugmentWide(),
    ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), Grayscale(p=0.5),
    RandomErasing(p=0.5, mode="pixel", count=[1, 2]),
], ids=lambda t: type(t).__name__)
def test_augmentations_conform(t):
    check_transform(t)  # only sample["rng"]: same (seed, epoch, index), same clip


@pytest.mark.parametrize("params, match", [
    ({"type": "rand_augment", "magnitude": 11}, "magnitude"),
    ({"type": "rand_augment", "ops": ["Rotate", "Cutout"]}, "Cutout"),
    ({"type": "color_jitter", "hue": 0.7}, "hue"),
    ({"type": "random_erasing", "mode": "noise"}, "mode"),
    ({"type": "random_erasing", "scale": [0.5, 0.1]}, "scale"),
])
def test_bad_parameters_are_recipe_errors(params, match):
    from zelda_core._errors import RecipeError
    from zelda_core._registry import build

    with pytest.raises((RecipeError, ValueError), match=match):
        build("transforms", params)


def test_torchvision_functional_per_frame(clip):
    """Each op against torchvision.transforms.v2.functional on each frame (tests_torchvision)."""
    tv = need("torchvision.transforms.v2.functional", "torchvision")
    frames = torch.from_numpy(clip).permute(0, 3, 1, 2)
    cases = [("Brightness", 1.4, lambda x: tv.adjust_brightness(x, 1.4)),
             ("Color", 0.3, lambda x: tv.adjust_saturation(x, 0.3)),
             ("Contrast", 1.6, lambda x: tv.adjust_contrast(x, 1.6)),
             ("Sharpness", 1.8, lambda x: tv.adjust_sharpness(x, 1.8)),
             ("Posterize", 3, lambda x: tv.posterize(x, 3)),
             ("Solarize", 100.0, lambda x: tv.solarize(x, 100.0)),
             ("AutoContrast", None, tv.autocontrast), ("Equalize", None, tv.equalize),
             ("Invert", None, tv.invert),
             ("Rotate", 17.0, lambda x: tv.rotate(x, 17.0)),
             ("ShearX", 0.21, lambda x: tv.affine(x, angle=0.0, translate=[0, 0], scale=1.0,
                                                  shear=[float(np.degrees(np.arctan(0.21))), 0.0],
                                                  center=[0, 0])),
             ("TranslateY", -9, lambda x: tv.affine(x, angle=0.0, translate=[0, -9], scale=1.0,
                                                    shear=[0.0, 0.0]))]
    for op, arg, fn in cases:
        ours = to_frames(apply_op(to_tensor(clip), op, arg))
        ref = torch.stack([fn(f) for f in frames]).permute(0, 2, 3, 1).numpy()
        d = np.abs(ours.astype(int) - ref)
        assert d.max() == 0 or (op in GEOMETRY and (d > 0).mean() < 0.002), (op, d.max())
    gray = tv.rgb_to_grayscale(frames, num_output_channels=3).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(Grayscale(p=1.0)({"imgs": clip})["imgs"], gray)
    hue = torch.stack([tv.adjust_hue(f, 0.2) for f in frames]).permute(0, 2, 3, 1).numpy()
    from zelda_transforms.augment_ops import adjust_hue
    assert np.abs(to_frames(adjust_hue(to_tensor(clip), 0.2)).astype(int) - hue).max() <= 1


def test_bench_pipeline_compares_splits_side_by_side(capsys):
    """``zelda bench pipeline --split A --split B``: both pipelines over the same videos in
    alternating rounds, the ratio to the first (how docs/benchmarks.md measures the
    augmentation stack against the tutorial's train pipeline)."""
    import json

    from zelda_core._cli.main import main

    recipe = Path(__file__).resolve().parents[3] / "benchmarks/pipeline/kinetics2_tiny.toml"
    rc = main(["bench", "pipeline", str(recipe), "--split", "tutorial_train",
               "--split", "augmented_train", "--limit", "2", "--rounds", "2", "--json",
               "--set", f"data.root={json.dumps(str(DATA))}"])
    assert rc == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["split"] for r in rows] == ["tutorial_train", "augmented_train"]
    assert all(r["videos"] == 2 and len(r["cpu_s_per_video_rounds"]) == 2 for r in rows)
    assert rows[0]["vs_first"] == 1.0 and rows[1]["vs_first"] > 0
    assert "rand_augment" in rows[1]["transforms"] and "random_erasing" in rows[1]["transforms"]
    assert main(["bench", "pipeline", str(recipe), "--split", "a", "--split", "b",
                 "--decoder", "pyav", "--decoder", "decord"]) == 1
    assert "not both" in capsys.readouterr().err


def test_trivial_augment_matches_torchvisions_own_ops_per_frame(clip):
    """Each reported (op, magnitude) run by torchvision's TrivialAugmentWide itself on each
    frame (its private per-op method: the op -> argument mapping is the thing tested)."""
    need("torchvision.transforms.v2.functional", "torchvision")
    from torchvision.transforms import v2

    tv = v2.TrivialAugmentWide()
    ours = TrivialAugmentWide()
    frames = torch.from_numpy(clip).permute(0, 3, 1, 2)
    seen = set()
    for seed in range(60):
        sample = ours({"imgs": clip, "rng": np.random.default_rng(seed)})
        step = sample["trivial_augment"]
        seen.add(step["op"])
        ref = torch.stack([tv._apply_image_or_video_transform(
            f, step["op"], step["magnitude"], interpolation=tv.interpolation, fill=tv._fill)
            for f in frames]).permute(0, 2, 3, 1).numpy()
        d = np.abs(sample["imgs"].astype(int) - ref)
        assert d.max() == 0 or (step["op"] in GEOMETRY and (d > 0).mean() < 0.002), (step, d.max())
    assert seen == set(TRIVIAL_OPS)


def test_the_torch_table_lookup_equals_numpys(clip):
    """On a GPU (the device tail) the pointwise ops look their tables up with torch
    (``lut_gather``) instead of NumPy's ``take``: the same values, one table or one per
    frame and channel (equalize, autocontrast)."""
    from zelda_transforms import augment_ops as ops

    t = to_tensor(clip)
    one = torch.randint(0, 256, (256,), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    planes = torch.randint(0, 256, (t.shape[0], 3, 256), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(2))
    for lut in (one, planes):
        assert torch.equal(ops.lut_gather(t, lut), ops.apply_lut(t, lut))
