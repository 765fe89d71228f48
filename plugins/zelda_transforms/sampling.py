"""Frame sampling: which frame indices of a video make up the clips of a sample.

Every sampler sets ``frame_inds`` (int64, all clips concatenated), ``clip_len``,
``num_clips`` and ``frame_interval``. Random choices use ``sample["rng"]`` (a
``numpy.random.Generator`` seeded from (seed, epoch, index)); the global NumPy RNG is never
touched. Samplers need ``total_frames``: when no ``init`` step ran before them they open
the video themselves (see :func:`zelda_transforms.loading.ensure_reader`).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .loading import ensure_reader

OutOfBound = Literal["loop", "repeat_last"]


def _rng(sample: dict[str, Any]) -> np.random.Generator:
    rng = sample.get("rng")
    if rng is None:  # a sample built by hand: still reproducible, never global state
        rng = np.random.default_rng(0)
        sample["rng"] = rng
    return rng


def _check_oob(opt: str) -> None:
    if opt not in ("loop", "repeat_last"):
        raise ValueError(f"out_of_bound_opt must be 'loop' or 'repeat_last', got {opt!r}")


def _positive(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


MAX_FRAMES = 4096
"""Frames one sample may hold (clip_len x num_clips): 4096 frames of 256x340 RGB are
1 GiB, so more is a typo, not a recipe; checked at construction (``zelda recipe check``)."""


def _bounded(clip_len: int, num_clips: int, factor: int = 1) -> None:
    frames = clip_len * num_clips * factor
    if frames > MAX_FRAMES:
        raise ValueError(f"clip_len x num_clips{' x 2 (twice_sample)' if factor == 2 else ''} = "
                         f"{frames} frames per sample, over the limit of {MAX_FRAMES} (each "
                         "frame is decoded and held in memory)")


def apply_out_of_bound(inds: np.ndarray, total: int, opt: str) -> np.ndarray:
    """MMAction2's out-of-bound rule on (num_clips, clip_len) indices.

    ``loop`` wraps (``i mod total``); ``repeat_last`` replaces every index past the end
    with the clip's last in-range index (its largest index below ``total``, 0 if none).
    """
    if opt == "loop":
        return np.mod(inds, total)
    safe = inds < total
    last = np.max(np.where(safe, inds, 0), axis=1, keepdims=True)
    return np.where(safe, inds, last)


def _finish(sample: dict[str, Any], inds: np.ndarray, clip_len: int, num_clips: int,
            interval: int | None) -> dict[str, Any]:
    sample["frame_inds"] = np.ascontiguousarray(inds, dtype=np.int64).reshape(-1)
    sample["clip_len"] = clip_len
    sample["num_clips"] = num_clips
    sample["frame_interval"] = interval
    return sample


class SegmentSample:
    """The tutorial's sampler: ``clip_len`` equal segments, one random frame in each.

    ``interval = total_frames // clip_len``; frame ``i`` of a clip is
    ``i * interval + offset_i`` with ``offset_i`` uniform in ``[0, interval)``. In test mode
    the offsets are those of the tutorial after ``np.random.seed(42)`` (the same indices,
    clip after clip), drawn from a private ``RandomState(42)`` so global state is untouched.
    A video shorter than ``clip_len`` frames takes frames ``0..clip_len-1`` with the
    ``out_of_bound_opt`` rule (the tutorial would crash there).
    """

    needs = ()  # sample keys read (zelda checks the pipeline"s order)
    adds = ("frame_inds", "clip_len", "num_clips", "frame_interval", "reader", "total_frames")

    input_params = {"frames": "clip_len"}

    def __init__(self, clip_len: int, num_clips: int = 1, test_mode: bool = False,
                 out_of_bound_opt: OutOfBound = "loop") -> None:
        _positive("clip_len", clip_len)
        _positive("num_clips", num_clips)
        _bounded(clip_len, num_clips)
        _check_oob(out_of_bound_opt)
        self.clip_len, self.num_clips, self.test_mode = clip_len, num_clips, test_mode
        self.out_of_bound_opt = out_of_bound_opt

    def min_frames(self) -> int:
        """Frames a video needs for a clip without the out-of-bound rule."""
        return self.clip_len

    def frame_indices(self, total: int, rng: np.random.Generator) -> np.ndarray:
        """(num_clips, clip_len) indices for a video of ``total`` frames."""
        interval = total // self.clip_len
        if interval == 0:
            inds = np.tile(np.arange(self.clip_len), (self.num_clips, 1))
            return apply_out_of_bound(inds, max(total, 1), self.out_of_bound_opt)
        bids = np.arange(self.clip_len) * interval
        shape = (self.num_clips, self.clip_len)
        if self.test_mode:
            offsets = np.random.RandomState(42).randint(interval, size=shape)
        else:
            offsets = rng.integers(interval, size=shape)
        return bids + offsets

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        total = ensure_reader(sample)
        inds = self.frame_indices(total, _rng(sample))
        return _finish(sample, inds, self.clip_len, self.num_clips, None)


class SampleFrames:
    """MMAction2's ``SampleFrames``, index formulas reproduced exactly (1.2).

    Clips of ``clip_len`` frames ``frame_interval`` apart. Train mode spreads ``num_clips``
    random clip starts over the video; test mode takes evenly spaced starts (one clip:
    centred). ``out_of_bound_opt`` loop|repeat_last handles indices past the end;
    ``keep_tail_frames``, ``twice_sample``, ``temporal_jitter`` and ``target_fps`` as in
    MMAction2.
    """

    needs = ()  # sample keys read (zelda checks the pipeline"s order)
    adds = ("frame_inds", "clip_len", "num_clips", "frame_interval", "reader", "total_frames")

    input_params = {"frames": "clip_len"}

    def __init__(self, clip_len: int, frame_interval: int = 1, num_clips: int = 1,
                 test_mode: bool = False, out_of_bound_opt: OutOfBound = "loop",
                 keep_tail_frames: bool = False, twice_sample: bool = False,
                 temporal_jitter: bool = False, target_fps: float | None = None) -> None:
        _positive("clip_len", clip_len)
        _positive("frame_interval", frame_interval)
        _positive("num_clips", num_clips)
        _bounded(clip_len, num_clips, 2 if twice_sample else 1)
        _check_oob(out_of_bound_opt)
        if twice_sample and num_clips == 1 and clip_len > 1:
            raise ValueError(
                "twice_sample = true with num_clips = 1 and clip_len > 1 would return the same "
                "clip twice (MMAction2 fails there: it spaces the clips by num_clips - 1); "
                "use num_clips >= 2, or twice_sample = false")
        self.clip_len, self.frame_interval, self.num_clips = clip_len, frame_interval, num_clips
        self.test_mode, self.out_of_bound_opt = test_mode, out_of_bound_opt
        self.keep_tail_frames, self.twice_sample = keep_tail_frames, twice_sample
        self.temporal_jitter, self.target_fps = temporal_jitter, target_fps

    def _ori_clip_len(self, fps_scale_ratio: float) -> float:
        if self.target_fps is not None:
            return float(np.maximum(1, self.clip_len * self.frame_interval * fps_scale_ratio))
        if self.test_mode:
            return (self.clip_len - 1) * self.frame_interval + 1
        return self.clip_len * self.frame_interval

    def min_frames(self) -> int:
        """Frames a video needs for one clip without the out-of-bound rule."""
        return (self.clip_len - 1) * self.frame_interval + 1

    def _train_offsets(self, n: int, ori: float, rng: np.random.Generator) -> np.ndarray:
        k = self.num_clips
        if self.keep_tail_frames:
            avg = (n - ori + 1) / float(k)
            if n > ori - 1:
                return (np.arange(k) * avg + rng.uniform(0, avg, k)).astype(np.int32)
            return np.zeros((k,), dtype=np.int32)
        avg = (n - ori + 1) // k
        if avg > 0:
            return np.arange(k) * avg + rng.integers(avg, size=k)
        if n > max(k, ori):
            return np.sort(rng.integers(n - ori + 1, size=k))
        if avg == 0:
            ratio = (n - ori + 1.0) / k
            return np.around(np.arange(k) * ratio)
        return np.zeros((k,), dtype=np.int32)

    def _test_offsets(self, n: int, ori: float) -> np.ndarray:
        k = self.num_clips
        if self.clip_len == 1:  # 2D recognizers
            avg = n / float(k)
            base = np.arange(k) * avg
            offsets = base + avg / 2.0
            return np.concatenate([offsets, base]) if self.twice_sample else offsets
        max_offset = max(n - ori, 0)
        clips = k * 2 if self.twice_sample else k
        if clips > 1:
            # MMAction2 divides by num_clips - 1 (not clips - 1), also with twice_sample
            between = max_offset / float(k - 1) if k > 1 else 0.0
            if self.target_fps is not None:
                return np.arange(clips) * np.floor(between)
            return np.round(np.arange(clips) * between)
        return np.array([max_offset // 2])

    def frame_indices(self, total: int, rng: np.random.Generator,
                      fps: float | None = None) -> np.ndarray:
        """(clips, clip_len) indices for a video of ``total`` frames."""
        ratio = fps / self.target_fps if (self.target_fps and fps) else 1.0
        ori = self._ori_clip_len(ratio)
        if self.test_mode:
            offsets = self._test_offsets(total, ori)
        else:
            offsets = self._train_offsets(total, ori, rng)
        if self.target_fps:
            inds = offsets[:, None] + np.linspace(0, ori - 1, self.clip_len).astype(np.int32)
        else:
            inds = offsets[:, None] + np.arange(self.clip_len)[None, :] * self.frame_interval
        inds = inds.astype(np.int64)
        if self.temporal_jitter:
            inds = inds + rng.integers(self.frame_interval, size=inds.shape)
        return apply_out_of_bound(inds.reshape(-1, self.clip_len), total, self.out_of_bound_opt)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        total = ensure_reader(sample)
        inds = self.frame_indices(total, _rng(sample), sample.get("avg_fps"))
        inds = inds + int(sample.get("start_index", 0))
        # like MMAction2, twice_sample yields 2 * num_clips clips but reports num_clips
        # (format_shape's reshape to (-1, num_clips, clip_len) takes the two sets as views)
        return _finish(sample, inds, self.clip_len, self.num_clips, self.frame_interval)


class UniformSample:
    """MMAction2's ``UniformSample`` (SlowFast's SSv2 / TSN-style uniform sampling).

    ``clip_len`` segments of ``(total - 1) / clip_len`` frames. Train mode: one random
    frame in each segment (both segment ends included, as MMAction2). Test mode: clip
    ``k`` of ``num_clips`` takes ``round(seg * i) + int(seg / (num_clips + 1) * (k + 1))``.
    In train mode ``num_clips`` independent clips are drawn (MMAction2 draws one).
    """

    needs = ()  # sample keys read (zelda checks the pipeline"s order)
    adds = ("frame_inds", "clip_len", "num_clips", "frame_interval", "reader", "total_frames")

    input_params = {"frames": "clip_len"}

    def __init__(self, clip_len: int, num_clips: int = 1, test_mode: bool = False) -> None:
        _positive("clip_len", clip_len)
        _positive("num_clips", num_clips)
        _bounded(clip_len, num_clips)
        self.clip_len, self.num_clips, self.test_mode = clip_len, num_clips, test_mode

    def min_frames(self) -> int:
        """Frames a video needs for distinct frames in every segment."""
        return self.clip_len

    def frame_indices(self, total: int, rng: np.random.Generator) -> np.ndarray:
        """(num_clips, clip_len) indices for a video of ``total`` frames."""
        seg = float(total - 1) / self.clip_len
        i = np.arange(self.clip_len)
        starts = np.round(seg * i).astype(np.int64)
        if not self.test_mode:
            ends = np.round(seg * (i + 1)).astype(np.int64)
            return rng.integers(starts, ends + 1, size=(self.num_clips, self.clip_len))
        duration = seg / (self.num_clips + 1)
        shift = np.array([int(duration * (k + 1)) for k in range(self.num_clips)])
        return starts[None, :] + shift[:, None]

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        total = ensure_reader(sample)
        inds = self.frame_indices(total, _rng(sample)) + int(sample.get("start_index", 0))
        return _finish(sample, inds, self.clip_len, self.num_clips, None)
