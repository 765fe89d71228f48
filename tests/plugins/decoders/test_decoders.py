"""Decoder conformance: every decoder under test (the `decoder_name` fixture parameter).

Against the shared corpus (MANIFEST.json: true frame counts and 16x16 luma thumbnails)
and against small H.264 files encoded here with PyAV.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from decoder_fixtures import manifest, thumb16
from extras import need
from media import full_decode, make_edit_list_video, make_video

from zelda_core._errors import DecodeError
from zelda_core._video import open_video, resolve_size

MANIFEST = manifest()
READABLE = sorted(k for k, v in MANIFEST.items() if "error" not in v) or ["(no shared corpus)"]

THUMB_TOL = 2.0
"""Mean absolute luma difference allowed between a frame's thumbnail and the manifest's
(colour conversion differs a little between libraries; measured <= 0.3)."""


@pytest.fixture
def corpus(shared_dir: Path) -> Path:
    videos = shared_dir / "data" / "videos"
    if not (videos / "MANIFEST.json").is_file():
        pytest.skip(f"no decoder corpus at {videos}")
    return videos


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 frames, GOP 12, two non-reference B-frames between references."""
    return make_video(tmp_path_factory.mktemp("dec") / "small.mp4")


@pytest.fixture(scope="module")
def small_ref(small: Path) -> list[np.ndarray]:
    return full_decode(small)


@pytest.mark.parametrize("name", READABLE)
def test_metadata_matches_manifest(corpus: Path, decoder_name: str, name: str) -> None:
    truth = MANIFEST[name]
    with open_video(str(corpus / name), decoder=decoder_name) as r:
        assert r.num_frames == truth["frames"]
        assert len(r) == truth["frames"]
        assert (r.width, r.height) == (truth["width"], truth["height"])
        assert r.codec == truth["codec"]
        assert r.fps == pytest.approx(truth["fps"], rel=1e-3)
        assert r.duration == pytest.approx(truth["frames"] / truth["fps"], rel=1e-3)
        info = r.info()
        assert info["frames"] == truth["frames"] and info["keyframe_interval"] > 0


@pytest.mark.parametrize("name", READABLE)
def test_frames_match_thumbnails(corpus: Path, decoder_name: str, name: str) -> None:
    """Frame i is the i-th frame of a full decode: closest to thumbs16[i], not a neighbour's."""
    thumbs = {int(i): np.asarray(t, dtype=np.float64) for i, t in MANIFEST[name]["thumbs16"].items()}
    order = sorted(thumbs)
    order = order[1::2][::-1] + order[::2]  # backwards and forwards in one call
    with open_video(str(corpus / name), decoder=decoder_name) as r:
        frames = r.get_frames(order)
    assert frames.dtype == np.uint8 and frames.shape == (len(order), r.height, r.width, 3)
    for i, frame in zip(order, frames):
        t = thumb16(frame)
        own = np.abs(t - thumbs[i]).mean()
        assert own <= THUMB_TOL, f"{name} frame {i}: thumbnail off by {own:.2f}"
        for j in (i - 2, i - 1, i + 1, i + 2):
            if j in thumbs and np.abs(thumbs[j] - thumbs[i]).mean() > 1.0:
                other = np.abs(t - thumbs[j]).mean()
                assert own < other, f"{name}: index {i} looks like frame {j} ({own:.2f} vs {other:.2f})"


def _check_frames(path: Path, ref: list[np.ndarray], decoder_name: str, calls: list) -> None:
    """Each call returns the frames of a plain full decode (bit-identical with pyav)."""
    n = len(ref)
    with open_video(str(path), decoder=decoder_name) as r:
        assert r.num_frames == n
        for ids in calls:
            got = r.get_frames(ids)
            want = np.stack([ref[i] for i in ids])
            assert got.shape == want.shape
            if decoder_name == "pyav":
                np.testing.assert_array_equal(got, want)
            else:  # another FFmpeg build: nearly equal, and never a neighbour
                for k, i in enumerate(ids):
                    d = np.abs(got[k].astype(int) - ref[i]).mean()
                    assert d < 3.0
                    for j in (i - 1, i + 1):
                        if 0 <= j < n:
                            assert d < np.abs(got[k].astype(int) - ref[j]).mean()


def test_random_access_is_exact(small: Path, small_ref: list[np.ndarray], decoder_name: str) -> None:
    """Any order, duplicates, repeated calls: the frames of a plain full decode."""
    rng = np.random.default_rng(0)
    n = len(small_ref)
    calls = [rng.integers(0, n, 16) for _ in range(6)]
    calls += [[5, 1, 5, 0, 39, 39], [n - 1], [0], list(range(n)), [30, 12, 11, 13]]
    _check_frames(small, small_ref, decoder_name, calls)


@pytest.mark.parametrize("x264", ["bframes=2:b-pyramid=0", "bframes=3:b-pyramid=2"])
def test_h264_in_avi_uses_poc_order(tmp_path: Path, decoder_name: str, x264: str) -> None:
    """AVI has no pts: display order comes from the slice headers, so frames can be skipped."""
    from zelda_decoding.index import build_index

    path = make_video(tmp_path / "clip.avi", frames=50, fmt="avi",
                      x264=f"keyint=15:min-keyint=15:scenecut=0:{x264}")
    ref = full_decode(path)
    index = build_index(str(path))
    assert index.display is not None and index.by_pts and sum(index.keyframe) == 4
    rng = np.random.default_rng(3)
    calls = [np.sort(rng.integers(0, 50, 8)) for _ in range(4)] + [[49, 0, 17, 16, 33], list(range(50))]
    _check_frames(path, ref, decoder_name, calls)


@pytest.mark.parametrize("fmt", [None, "matroska"])
def test_open_gop_leading_pictures(tmp_path: Path, decoder_name: str, fmt: str | None) -> None:
    """Open GOPs: B-frames shown before a keyframe but decoded after it need the
    previous keyframe; they are exact, reached in one forward pass."""
    path = make_video(tmp_path / ("og.mkv" if fmt else "og.mp4"), frames=60, fmt=fmt,
                      x264="keyint=12:min-keyint=12:scenecut=0:open-gop=1:bframes=3:b-pyramid=0")
    ref = full_decode(path)
    rng = np.random.default_rng(4)
    calls = [[12, 11], [11], [12, 10], [24, 23, 22, 21, 13, 12, 11, 10, 9, 0]]
    calls += [rng.integers(0, 60, 12) for _ in range(3)]
    _check_frames(path, ref, decoder_name, calls)
    if decoder_name == "pyav":
        with open_video(str(path), decoder="pyav", skip_nonref=False) as r:
            r.get_frames([12, 11])
            assert r.frames_decoded <= 14  # one pass from frame 0, no re-decode


def test_mp4_edit_list_frames_are_not_counted(tmp_path: Path, small: Path, decoder_name: str) -> None:
    """Packets before an edit list's start are decoded but never shown: 40 packets, 37 frames."""
    path = make_edit_list_video(tmp_path / "edited.mp4", small, cut=3)
    ref = full_decode(path)
    assert len(ref) == 37
    _check_frames(path, ref, decoder_name, [[0, 1, 2, 36], [20, 3, 3, 0], list(range(37))])


def test_accepts_numpy_and_empty(small: Path, decoder_name: str) -> None:
    with open_video(str(small), decoder=decoder_name) as r:
        assert r.get_frames(np.array([3, 2], dtype=np.int64)).shape[0] == 2
        assert r.get_frames([]).shape == (0, r.height, r.width, 3)


@pytest.mark.parametrize("bad", [-1, 40, 1000])
def test_out_of_range_raises_index_error(small: Path, decoder_name: str, bad: int) -> None:
    with open_video(str(small), decoder=decoder_name) as r:
        with pytest.raises(IndexError, match="out of range"):
            r.get_frames([0, bad])
        assert r.get_frames([1]).shape[0] == 1  # still usable


@pytest.mark.parametrize("size", [32, 24, (20, 30), (-1, 32), (24, -1), (24, 24), (48, 48), (36, 16)])
def test_resize_in_conversion(small: Path, small_ref: list[np.ndarray], decoder_name: str, size) -> None:
    with open_video(str(small), decoder=decoder_name) as r:
        h, w = resolve_size(r.height, r.width, size)
        got = r.get_frames([7, 3], size=size)
    assert got.shape == (2, h, w, 3)
    for k, i in enumerate([7, 3]):
        own = np.abs(got[k].astype(float) - _resized(small_ref[i], h, w)).mean()
        near = min(np.abs(got[k].astype(float) - _resized(small_ref[j], h, w)).mean() for j in (i - 1, i + 1))
        assert own < 6.0 and own < near


def _resized(rgb: np.ndarray, h: int, w: int) -> np.ndarray:
    """An independent antialiased bilinear resize (torch) to compare against."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
    t = F.interpolate(t, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    return t[0].permute(1, 2, 0).numpy()


def test_short_side_rounding_like_mmaction(tmp_path: Path, decoder_name: str) -> None:
    """A short side rounds like mmcv.rescale_size: 126 * 64 / 90 = 89.6 -> 90."""
    path = make_video(tmp_path / "odd.mp4", frames=3, size=(90, 126))
    with open_video(str(path), decoder=decoder_name) as r:
        assert r.get_frames([1], size=64).shape == (1, 64, 90, 3)


def test_mkv_has_true_frame_count(tmp_path: Path, small_ref: list[np.ndarray], decoder_name: str) -> None:
    """Matroska headers carry no frame count; the packet index does."""
    path = make_video(tmp_path / "clip.mkv", fmt="matroska")
    with open_video(str(path), decoder=decoder_name) as r:
        assert r.num_frames == 40
        assert r.get_frames([39]).shape[0] == 1


def test_closed_reader_refuses(small: Path, decoder_name: str) -> None:
    r = open_video(str(small), decoder=decoder_name)
    r.close()
    r.close()  # idempotent
    with pytest.raises(DecodeError, match="closed"):
        r.get_frames([0])


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_readers_close_their_files(small: Path, decoder_name: str) -> None:
    with open_video(str(small), decoder=decoder_name) as r:
        r.get_frames([0])
    before = _open_fds()
    for _ in range(30):
        with open_video(str(small), decoder=decoder_name) as r:
            r.get_frames([5, 20])
    assert _open_fds() <= before + 1


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs /proc")
def test_many_clips_do_not_grow_memory(small: Path, decoder_name: str) -> None:
    """300 open/decode/close cycles (the benchmark does 2,000 on real files)."""
    rng = np.random.default_rng(1)

    def clip() -> None:
        with open_video(str(small), decoder=decoder_name) as r:
            r.get_frames(np.sort(rng.integers(0, r.num_frames, 16)), size=32)

    for _ in range(30):  # warm-up: allocator pools, codec tables
        clip()
    before = _rss_mb()
    for _ in range(300):
        clip()
    assert _rss_mb() - before < 20, "RSS grew by more than 20 MB over 300 clips"


# -- pyav specifics -----------------------------------------------------------------------


def test_skip_nonref_is_bit_identical_and_decodes_less(small: Path, small_ref: list[np.ndarray]) -> None:
    ids = [0, 4, 9, 13, 17, 22, 26, 30, 35, 38]
    with open_video(str(small), decoder="pyav") as fast, open_video(
        str(small), decoder="pyav", skip_nonref=False
    ) as plain:
        a, b = fast.get_frames(ids), plain.get_frames(ids)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, np.stack([small_ref[i] for i in ids]))
        assert fast.frames_decoded < plain.frames_decoded


def test_forward_only_never_decodes_a_gop_twice(small: Path) -> None:
    """One call over all GOPs decodes each frame at most once."""
    with open_video(str(small), decoder="pyav", skip_nonref=False) as r:
        r.get_frames([39, 0, 20, 21, 5, 11, 12])
        assert r.frames_decoded <= 40


@pytest.mark.parametrize("threads", [2, 3])
def test_threads_option_is_exact(small: Path, small_ref: list[np.ndarray], threads: int) -> None:
    ids = [2, 30, 31, 7, 7, 18]
    with open_video(str(small), decoder="pyav", threads=threads) as r:
        np.testing.assert_array_equal(r.get_frames(ids), np.stack([small_ref[i] for i in ids]))


def test_skip_nonref_exact_on_corpus(corpus: Path) -> None:
    """Every readable corpus file: frames with and without skipping are bit-identical."""
    rng = np.random.default_rng(2)
    for name in READABLE:
        with open_video(str(corpus / name), decoder="pyav", interpolation="BILINEAR") as fast:
            n = fast.num_frames
            ids = np.sort(rng.choice(n, size=min(n, 6), replace=False))
            with open_video(str(corpus / name), decoder="pyav", skip_nonref=False) as plain:
                np.testing.assert_array_equal(
                    fast.get_frames(ids, size=64), plain.get_frames(ids, size=64), err_msg=name
                )


# -- decord specifics ---------------------------------------------------------------------


def test_decord_decodes_what_pyav_decodes(small: Path, small_ref: list[np.ndarray]) -> None:
    """Fed only the packets a request needs, decord decodes the frames pyav decodes (both
    leave out unrequested non-reference frames), and returns the same frames."""
    need("decord", "decord")
    ids = [0, 4, 9, 13, 17, 22, 26, 30, 35, 38, 4]
    with open_video(str(small), decoder="decord") as d, open_video(str(small), decoder="pyav") as p:
        np.testing.assert_allclose(d.get_frames(ids), p.get_frames(ids), atol=8)
        assert d.frames_decoded == p.frames_decoded < 39


def test_bad_interpolation_is_rejected(small: Path) -> None:
    from zelda_core._errors import ZeldaError

    with pytest.raises((ValueError, ZeldaError)):
        open_video(str(small), decoder="pyav", interpolation="nearest-ish")


def test_index_cache_survives_processes_and_notices_changes(tmp_path: Path) -> None:
    """The on-disk index is reused when the in-process cache is empty, and a file
    changed in place (new mtime/size) is indexed again."""
    from zelda_decoding import index as video_index

    path = make_video(tmp_path / "c.mp4", frames=20)
    first = video_index.get_index(str(path))
    video_index.clear_cache()
    cached = list(Path(os.environ["ZELDA_CACHE_DIR"]).rglob("*.json"))
    assert cached, "no index written to the disk cache"
    again = video_index.get_index(str(path))
    assert again.pts == first.pts and again is not first
    make_video(path, frames=30)
    assert video_index.get_index(str(path)).num_frames == 30
