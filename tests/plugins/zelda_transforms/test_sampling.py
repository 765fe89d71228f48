"""Frame sampling: MMAction2's formulas (golden vectors), the tutorial's sampler, rng rules."""

from __future__ import annotations

import numpy as np
import pytest
from zelda_transforms.sampling import SampleFrames, SegmentSample, UniformSample

from zelda_core._data.rng import sample_rng


def inds(transform, total, rng=None, **extra):
    sample = {"total_frames": total, "rng": rng or np.random.default_rng(0), **extra}
    return transform(sample)["frame_inds"].tolist()


# -- SampleFrames, test mode: deterministic, compared by hand with MMAction2 1.2 -------------

def test_sample_frames_golden_single_clip_centred():
    # ori_clip_len = 31 * 2 + 1 = 63, max_offset = 37, offset = 37 // 2 = 18
    assert inds(SampleFrames(32, 2, 1, test_mode=True), 100) == list(range(18, 81, 2))


def test_sample_frames_golden_three_clips_evenly_spaced():
    # ori = 61, max_offset = 39, between = 19.5, offsets round([0, 19.5, 39]) = [0, 20, 39]
    got = inds(SampleFrames(16, 4, 3, test_mode=True), 100)
    want = [o + 4 * i for o in (0, 20, 39) for i in range(16)]
    assert got == want


def test_sample_frames_golden_2d_test_clips():
    # clip_len 1: avg = 100 / 4 = 25, offsets 12.5 + 25k -> int
    assert inds(SampleFrames(1, 1, 4, test_mode=True), 100) == [12, 37, 62, 87]
    assert inds(SampleFrames(1, 1, 2, test_mode=True, twice_sample=True), 10) == [2, 7, 0, 5]


@pytest.mark.parametrize("opt, want", [
    ("loop", [0, 4, 8, 2, 6, 0, 4, 8]),            # 0 4 8 12 16 20 24 28 mod 10
    ("repeat_last", [0, 4, 8, 8, 8, 8, 8, 8]),     # past the end -> last index in range
])
def test_sample_frames_short_video_out_of_bound(opt, want):
    assert inds(SampleFrames(8, 4, 1, test_mode=True, out_of_bound_opt=opt), 10) == want


def test_sample_frames_short_video_train_never_crashes():
    for total in (1, 2, 5, 17):
        for opt in ("loop", "repeat_last"):
            got = inds(SampleFrames(16, 4, 2, out_of_bound_opt=opt), total)
            assert len(got) == 32 and min(got) >= 0 and max(got) < total


def test_sample_frames_train_offsets_within_mmaction_bounds():
    # ori = 64, avg_interval = (100 - 64 + 1) // 1 = 37: offset in [0, 37)
    t = SampleFrames(16, 4, 1)
    starts = {inds(t, 100, np.random.default_rng(s))[0] for s in range(200)}
    assert min(starts) >= 0 and max(starts) <= 36 and len(starts) > 20
    # two clips: avg = (100 - 64 + 1) // 2 = 18; clip k starts in [18k, 18k + 18)
    for s in range(50):
        got = inds(SampleFrames(16, 4, 2), 100, np.random.default_rng(s))
        assert 0 <= got[0] < 18 and 18 <= got[16] < 36
        assert np.all(np.diff(got[:16]) == 4)


def test_sample_frames_train_few_frames_branches():
    # avg_interval 0 and num_frames > max(num_clips, ori): sorted random offsets
    got = inds(SampleFrames(4, 2, 10), 12, np.random.default_rng(1))
    offsets = got[::4]
    assert offsets == sorted(offsets) and max(offsets) <= 12 - 8
    # avg_interval == 0 and few frames: offsets = around(k * ratio), ratio = (8 - 8 + 1) / 3
    assert inds(SampleFrames(4, 2, 3), 8)[::4] == [0, 0, 1]


def test_sample_frames_keep_tail_frames():
    # avg = (100 - 64 + 1) / 1 = 37.0; offset = int(uniform(0, 37))
    got = [inds(SampleFrames(16, 4, 1, keep_tail_frames=True), 100, np.random.default_rng(s))[0]
           for s in range(100)]
    assert 0 <= min(got) and max(got) <= 36


def test_sample_frames_deterministic_per_rng():
    t = SampleFrames(8, 2, 3)
    assert inds(t, 300, sample_rng(0, 1, 7)) == inds(t, 300, sample_rng(0, 1, 7))
    assert inds(t, 300, sample_rng(0, 1, 7)) != inds(t, 300, sample_rng(0, 2, 7))


def test_sample_frames_bad_params():
    with pytest.raises(ValueError, match="out_of_bound_opt"):
        SampleFrames(8, out_of_bound_opt="clamp")
    with pytest.raises(ValueError, match="clip_len"):
        SampleFrames(0)


# -- UniformSample ---------------------------------------------------------------------------

def test_uniform_sample_golden_test_mode():
    # seg = 99 / 4 = 24.75, starts round([0, 24.75, 49.5, 74.25]) = [0, 25, 50, 74]
    # duration = 24.75 / 3 = 8.25: clip 0 shifts by int(8.25) = 8, clip 1 by int(16.5) = 16
    assert inds(UniformSample(4, 2, test_mode=True), 100) == [8, 33, 58, 82, 16, 41, 66, 90]
    assert inds(UniformSample(4, 1, test_mode=True), 1) == [0, 0, 0, 0]


def test_uniform_sample_train_one_frame_per_segment():
    seg = 99 / 8
    lo = np.round(seg * np.arange(8))
    hi = np.round(seg * np.arange(1, 9))
    for s in range(50):
        got = np.array(inds(UniformSample(8), 100, np.random.default_rng(s)))
        assert np.all(got >= lo) and np.all(got <= hi)


# -- the tutorial's segment sampler ----------------------------------------------------------

def test_segment_sample_test_mode_matches_tutorial_seed_42():
    # the tutorial: np.random.seed(42); per clip bids + np.random.randint(interval, size=16)
    state = np.random.RandomState(42)
    interval = 380 // 16
    want = np.concatenate([np.arange(16) * interval + state.randint(interval, size=16)
                           for _ in range(5)]).tolist()
    before = np.random.get_state()[1].copy()
    got = inds(SegmentSample(16, 5, test_mode=True), 380)
    assert got == want
    assert got[:4] == [6, 42, 60, 79]   # golden: the tutorial run with seed 42
    assert np.array_equal(np.random.get_state()[1], before), "global RNG state was touched"


def test_segment_sample_train_one_frame_per_segment():
    for s in range(30):
        got = np.array(inds(SegmentSample(16), 100, np.random.default_rng(s)))
        seg = np.arange(16) * (100 // 16)
        assert np.all(got >= seg) and np.all(got < seg + 100 // 16)


@pytest.mark.parametrize("opt, want", [("loop", [0, 1, 2, 0, 1, 2]),
                                       ("repeat_last", [0, 1, 2, 2, 2, 2])])
def test_segment_sample_short_video(opt, want):
    assert inds(SegmentSample(6, out_of_bound_opt=opt), 3) == want


def test_start_index_and_keys():
    sample = SampleFrames(4, 2, 1, test_mode=True)({"total_frames": 20, "start_index": 1,
                                                    "rng": np.random.default_rng(0)})
    assert sample["frame_inds"].tolist() == [7, 9, 11, 13]
    assert sample["frame_inds"].dtype == np.int64
    assert (sample["clip_len"], sample["num_clips"], sample["frame_interval"]) == (4, 1, 2)


def test_sample_rng_independent_streams():
    a = sample_rng(0, 0, 0).integers(1 << 30, size=4)
    assert np.array_equal(a, sample_rng(0, 0, 0).integers(1 << 30, size=4))
    for other in (sample_rng(1, 0, 0), sample_rng(0, 1, 0), sample_rng(0, 0, 1)):
        assert not np.array_equal(a, other.integers(1 << 30, size=4))
