"""data.device_tail: the pixel work after decode deferred to one batched step in the main
process when the batch arrives (zelda_core._deferred). On the CPU (``device_tail = true``)
it must give exactly the batches of the per-sample path: the same pixels, frame indices,
crops, flips and labels, with real videos of different sizes (a rotated one, one that
torchcodec hands to the pyav reader), real decoders and a real DataLoader. The GPU run of
the same check is in tests/plugins/zelda_torchcodec (skipped without CUDA)."""

from __future__ import annotations

import copy
import shutil
from functools import partial
from pathlib import Path

import pytest
import torch

from zelda_core._data import build_dataloader
from zelda_core._deferred import DeferredFrames, run_tail
from zelda_testing.media import make_rotated

FILES = ["real/kinetics_340x256.mp4", "real/odd_width_1270x720.mp4",
         "real/mpeg4_audio_320x240.avi", "variants/vp9.webm", "variants/hevc.mkv"]
META = ["filename", "label", "index", "frame_inds", "img_shape", "original_shape",
        "scale_factor", "crop_bbox", "flip", "num_clips", "clip_len"]
TRAIN = [{"type": "segment_sample", "clip_len": 4}, {"type": "decode"},
         {"type": "resize", "size": 64}, {"type": "random_resized_crop"},
         {"type": "resize", "size": [32, 32]}, {"type": "flip"},
         {"type": "format_shape"}, {"type": "pack", "meta_keys": META}]
AUGMENTED = TRAIN[:5] + [
    {"type": "rand_augment", "num_ops": 3, "magnitude": 9, "magnitude_std": 0.5, "prob": 0.8},
    {"type": "trivial_augment"},
    {"type": "color_jitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1, "p": 0.8},
    {"type": "grayscale", "p": 0.5},
    {"type": "random_erasing", "p": 0.7, "mode": "pixel", "count": [1, 2]},
    {"type": "flip"}, {"type": "format_shape"},
    {"type": "pack", "meta_keys": META + ["rand_augment", "trivial_augment", "color_jitter",
                                          "grayscale", "random_erasing"]}]
VAL = [{"type": "segment_sample", "clip_len": 4, "num_clips": 2, "test_mode": True},
       {"type": "decode"}, {"type": "resize", "size": 32}, {"type": "three_crop", "crop_size": 32},
       {"type": "format_shape"}, {"type": "pack", "meta_keys": META}]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("tail")
    (root / "videos").mkdir()
    names = []
    for i, rel in enumerate(FILES):
        name = f"{i}_{Path(rel).name}"
        shutil.copyfile(shared_dir / "data/videos" / rel, root / "videos" / name)
        names.append(name)
    make_rotated(root / "videos/rotated.mp4", shared_dir / "data/videos/variants/bframes.mp4", -90)
    names.append("rotated.mp4")
    (root / "ann.txt").write_text("".join(f"{n} {i % 3}\n" for i, n in enumerate(names)))
    return root


def _recipe(root: Path, decoder: str, pipeline: list, **data) -> dict:
    return {"seed": 5, "data": {"root": str(root), "decoder": decoder, "batch_size": 4,
                                "workers": 0, **data,
                                "train": {"type": "video_list", "ann_file": "ann.txt",
                                          "prefix": "videos", "pipeline": copy.deepcopy(pipeline)}}}


def _batches(root: Path, decoder: str, pipeline: list, shuffle: bool = True, **data):
    loader = build_dataloader(_recipe(root, decoder, pipeline, **data), "train", shuffle=shuffle)
    return loader.notes, [(b["inputs"], b["label"], b["meta"], b["records"]) for b in loader]


def _assert_same(a: list, b: list) -> None:
    assert len(a) == len(b) == 2
    for (xa, la, ma, ra), (xb, lb, mb, rb) in zip(a, b):
        assert xa.dtype == xb.dtype == torch.uint8 and xa.shape == xb.shape
        assert torch.equal(xa, xb)
        assert torch.equal(la, lb) and ma == mb and ra == rb


@pytest.fixture()
def tails(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """Each run_tail call's clips, as their numbers of recorded operations."""
    import zelda_core._data.loader as loader_mod

    calls: list[list[int]] = []

    def spy(clips, device=None):
        calls.append([len(c.ops) for c in clips])
        return run_tail(clips, device)

    monkeypatch.setattr(loader_mod, "run_tail", spy)
    return calls


def test_the_batched_tail_gives_the_per_sample_batches(root: Path, decoder_name: str,
                                                        tails: list) -> None:
    notes, plain = _batches(root, decoder_name, TRAIN, device_tail=False)
    assert notes == [] and tails == []
    notes, deferred = _batches(root, decoder_name, TRAIN, device_tail=True)
    assert notes == ["data.train: frames decoded on cpu; resize, random_resized_crop, resize, "
                     "flip, format_shape, pack run on the CPU as one batched step in the main "
                     "process when the batch arrives"]
    # every clip arrived with its 5 operations (resize, crop, resize, flip, format) to run
    assert tails == [[5, 5, 5, 5], [5, 5]]
    _assert_same(plain, deferred)
    assert any(m["flip"] for b in plain for m in b[2]) and not all(m["flip"] for b in plain for m in b[2])
    # from loader workers (the DeferredFrames travel to the main process), the same batches
    _, workers = _batches(root, decoder_name, TRAIN, device_tail=True, workers=2)
    _assert_same(plain, workers)


def test_the_clip_augmentations_run_in_the_tail_too(root: Path, decoder_name: str,
                                                    tails: list) -> None:
    """rand_augment, trivial_augment, color_jitter, grayscale and random_erasing draw their
    parameters per sample as before and run their pixel work in the tail: the same
    batches, bit for bit (the ops are torch's on the same contiguous frames)."""
    _, plain = _batches(root, decoder_name, AUGMENTED, device_tail=False)
    notes, deferred = _batches(root, decoder_name, AUGMENTED, device_tail=True)
    assert notes and "random_erasing, flip, format_shape, pack run on the CPU" in notes[0]
    assert tails == [[10] * 4, [10] * 2]  # a no-op in place of an augmentation not drawn
    _assert_same(plain, deferred)
    meta = [m for b in plain for m in b[2]]
    assert any(m["grayscale"] for m in meta) and any(m["random_erasing"] for m in meta)
    assert any(m["color_jitter"]["order"] for m in meta)


def test_steps_that_cannot_be_deferred_run_per_sample_after_the_tail(
        root: Path, decoder_name: str, tails: list, monkeypatch: pytest.MonkeyPatch) -> None:
    """three_crop is not deferrable: the clip is materialized before it (the fused resize
    ran in its own tail), then three_crop, format_shape and pack run as before."""
    _, plain = _batches(root, decoder_name, VAL, shuffle=False, device_tail=False)
    made: list[tuple] = []
    real = DeferredFrames.materialize

    def spy(self):
        made.append(self.shape)
        return real(self)

    monkeypatch.setattr(DeferredFrames, "materialize", spy)
    notes, deferred = _batches(root, decoder_name, VAL, shuffle=False, device_tail=True)
    assert len(made) == 6 and all(s[0] == 8 and min(s[1:3]) == 32 for s in made)
    assert notes == ["data.train: frames decoded on cpu; resize run on the CPU as one batched "
                     "step in the main process when the batch arrives; three_crop, format_shape, "
                     "pack per sample on the CPU (not deferrable)"]
    assert tails == []  # the batches arrive as tensors
    _assert_same(plain, deferred)


@pytest.mark.decoder_independent
def test_auto_defers_only_for_a_gpu_decoder(root: Path, tails: list) -> None:
    notes, _ = _batches(root, "pyav", TRAIN[:3] + [{"type": "center_crop", "crop_size": 32},
                                                  {"type": "format_shape"}, {"type": "pack"}])
    assert notes == [] and tails == []  # device_tail = "auto", decoded on the CPU


def _count(calls: list, fn, t):
    calls.append(t.shape[0])
    return fn(t)


@pytest.mark.decoder_independent
def test_clips_whose_operation_and_shape_agree_run_as_one_call() -> None:
    from zelda_transforms.geometry import resize_tensor

    g = torch.Generator().manual_seed(0)
    frames = [torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
              for shape in ((3, 20, 30, 3), (3, 20, 30, 3), (3, 24, 18, 3))]
    calls: list[int] = []
    clips = []
    for i, f in enumerate(frames):
        c = DeferredFrames(f)
        c.then(partial(_count, calls, partial(resize_tensor, size=(16, 16))), (3, 16, 16, 3),
               ("resize", 16))
        c.crop(i, 2, 8, 10)
        c.flip(2)
        clips.append(c)
    out = run_tail(clips)
    assert calls == [6, 3]  # the two 20x30 clips in one resize call, the 24x18 one alone
    assert out.shape == (3, 3, 10, 8, 3) and out.is_contiguous()
    for i, f in enumerate(frames):
        want = resize_tensor(f, (16, 16))[:, 2:12, i:i + 8].flip(2)
        assert torch.equal(out[i], want)
