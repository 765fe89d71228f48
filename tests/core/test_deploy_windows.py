"""Sliding windows and the smoothed timeline (pure functions)."""

from __future__ import annotations

import pytest

from zelda_core._deploy.windows import Window, clock, describe, plan_windows, smooth, timeline


def test_windows_cover_the_video_with_the_tail_aligned_to_the_end():
    wins = plan_windows(num_frames=250, fps=25.0, window=2.0, stride=1.0)  # 10 s
    assert [w.start for w in wins] == [0, 25, 50, 75, 100, 125, 150, 175, 200]
    assert all(w.length == 50 for w in wins)
    assert (wins[0].t0, wins[0].t1, wins[-1].t1) == (0.0, 2.0, 10.0)
    # a tail the regular windows miss gets a last window ending at the last frame
    wins = plan_windows(num_frames=260, fps=25.0, window=2.0, stride=1.0)
    assert wins[-1].start + wins[-1].length == 260 and wins[-2].start == 200
    covered = set()
    for w in wins:
        covered.update(range(w.start, w.start + w.length))
    assert covered == set(range(260))


def test_short_video_is_one_window_and_bad_arguments_are_errors():
    assert plan_windows(30, 25.0, 2.0, 1.0) == [Window(0, 30, 0.0, 1.2)]
    assert plan_windows(0, 25.0, 2.0, 1.0) == []
    with pytest.raises(ValueError):
        plan_windows(100, 25.0, 0.0, 1.0)
    with pytest.raises(ValueError):
        plan_windows(100, 0.0, 2.0, 1.0)


def test_timeline_merges_runs_and_smoothing_removes_a_one_window_flicker():
    wins = plan_windows(250, 25.0, 2.0, 1.0)  # centres 1..9 s
    a, b = [0.9, 0.1], [0.1, 0.9]
    scores = [a, a, a, a, b, b, b, b, b]
    segs = timeline(wins, scores, radius=0, duration=10.0)
    assert [(s.label, s.t0, s.t1) for s in segs] == [(0, 0.0, 4.5), (1, 4.5, 10.0)]
    assert describe(segs, ["typing", "doing exercises"]) == \
        "typing 00:00-00:05, doing exercises 00:05-00:10"
    flicker = [a, a, a, b, a, a, b, b, b]
    assert len(timeline(wins, flicker, radius=0)) == 4
    assert [s.label for s in timeline(wins, flicker, radius=1)] == [0, 1]
    assert smooth([[1.0], [0.0], [1.0]], 1) == [[0.5], [2 / 3], [0.5]]


def test_clock():
    assert clock(41) == "00:41" and clock(70.4) == "01:10" and clock(3725) == "1:02:05"
