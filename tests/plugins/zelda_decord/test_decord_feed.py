"""The decord plugin's packet feed: in-memory streams of just the packets a request needs.

Checked by decoding each stream with PyAV (so these run without decord): the stream
holds one packet per decoded frame, and its frame of rank r is, bit for bit, the
requested frame of a full decode of the original file.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from extras import need
from media import full_decode, make_edit_list_video, make_video
from zelda_decord.feed import Feeder, Run

from zelda_decoding.index import get_index

OPEN_GOP = "keyint=12:min-keyint=12:scenecut=0:open-gop=1:bframes=3:b-pyramid=0"


def _runs(path: Path, frames: list[int]) -> list[Run]:
    feeder = Feeder(str(path), get_index(str(path)))
    try:
        return feeder.runs(sorted(set(frames)))
    finally:
        feeder.close()


def _decode_run(run: Run) -> list[np.ndarray]:
    """Every frame of a run's stream (PyAV, sequential)."""
    import av

    with av.open(io.BytesIO(run.data)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _check(path: Path, calls: list[list[int]]) -> list[list[Run]]:
    ref = full_decode(path)
    out = []
    for frames in calls:
        runs = _runs(path, frames)
        assert sorted(i for r in runs for i in r.frames) == sorted(set(frames))
        for run in runs:
            decoded = _decode_run(run)
            assert len(decoded) == run.packets
            for rank, i in zip(run.ranks, run.frames):
                np.testing.assert_array_equal(decoded[rank], ref[i], err_msg=f"{path.name} frame {i}")
        out.append(runs)
    return out


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("feed")
    small = make_video(d / "small.mp4")
    return {
        "closed-gop mp4": small,
        "open-gop mp4": make_video(d / "og.mp4", frames=60, x264=OPEN_GOP),
        "open-gop mkv": make_video(d / "og.mkv", frames=60, fmt="matroska", x264=OPEN_GOP),
        "b-pyramid avi": make_video(
            d / "p.avi", frames=50, fmt="avi", x264="keyint=15:min-keyint=15:scenecut=0:bframes=3:b-pyramid=2"
        ),
        "edit-list mp4": make_edit_list_video(d / "edited.mp4", small, cut=3),
    }


@pytest.mark.parametrize(
    "name", ["closed-gop mp4", "open-gop mp4", "open-gop mkv", "b-pyramid avi", "edit-list mp4"]
)
def test_streams_hold_exactly_the_requested_frames(videos: dict[str, Path], name: str) -> None:
    path = videos[name]
    n = get_index(str(path)).num_frames
    rng = np.random.default_rng(7)
    calls = [sorted(rng.choice(n, 8, replace=False).tolist()) for _ in range(4)]
    calls += [[0], [n - 1], list(range(0, n, 3)), [11, 12, 13, 24, 23]]
    _check(path, calls)


def test_unrequested_nonreference_pictures_are_left_out(videos: dict[str, Path]) -> None:
    """GOP I0 B1 B2 P3 B4 B5 P6 (decode order I0 P3 B1 B2 P6 B4): frame 4 needs I0, P3, P6."""
    (run,) = _check(videos["closed-gop mp4"], [[4]])[0]
    assert run.packets == 4  # I0 P3 P6 B4; the non-reference B1 and B2 are not decoded
    (run,) = _check(videos["closed-gop mp4"], [[1]])[0]
    assert run.packets == 3  # I0 P3 B1


def test_idr_segments_share_one_stream_other_keyframes_start_a_new_one(videos: dict[str, Path]) -> None:
    """A closed GOP starts at an IDR picture, which resets the decoder: one stream for
    three GOPs. An open GOP's keyframe does not: one stream per GOP, as after a seek."""
    (closed,) = _check(videos["closed-gop mp4"], [[1, 13, 25]])
    assert len(closed) == 1 and closed[0].packets < 3 * 12
    (opened,) = _check(videos["open-gop mp4"], [[26, 50]])
    assert len(opened) == 2


def test_decord_sees_one_keyframe_and_never_seeks(videos: dict[str, Path]) -> None:
    """The stream's single keyframe flag keeps decord from seeking (its seeks are where
    it returns wrong frames): three chained GOPs, one keyframe as decord counts them."""
    decord = need("decord", "decord")
    (run,) = _runs(videos["closed-gop mp4"], [1, 13, 25])
    vr = decord.VideoReader(io.BytesIO(run.data), num_threads=1)
    assert len(vr) == run.packets and list(vr.get_key_indices()) == [0]
