"""All-keyframe MP4s (what ``zelda data prepare`` writes) are read without a demuxer: each
frame's packet is read at the file offset the packet index recorded and decoded alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from decoder_fixtures import assert_frames_match
from media import draw_frame, full_decode

from zelda_core._video import open_video
from zelda_decoding.index import clear_cache

INTRA = {
    # codec: (PyAV encoder, options, pixel format), every frame a keyframe
    "h264": ("libx264", {"preset": "ultrafast", "crf": "18",
                         "x264-params": "keyint=1:tune=fastdecode"}, "yuv420p"),
    "hevc": ("libx265", {"preset": "ultrafast", "crf": "18",
                         "x265-params": "keyint=1:log-level=none"}, "yuv420p"),
    "mjpeg": ("mjpeg", {}, "yuvj420p"),
}


def _intra(path: Path, codec: str, frames: int = 30, size: tuple[int, int] = (48, 64),
           faststart: bool = False, fmt: str | None = None) -> Path:
    import av

    enc, opts, pix = INTRA[codec]
    if enc not in av.codecs_available:
        pytest.skip(f"this PyAV has no {enc} encoder")
    h, w = size
    with av.open(str(path), "w", format=fmt,
                 options={"movflags": "faststart"} if faststart else {}) as c:
        s = c.add_stream(enc, rate=25)
        s.width, s.height, s.pix_fmt = w, h, pix
        s.options = opts
        for i in range(frames):
            img = draw_frame("waves", i, h, w)
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def _remux(src: Path, dst: Path) -> Path:
    """The same packets in Matroska, whose packet positions are not where the bytes lie:
    read through the demuxer."""
    import av

    with av.open(str(src)) as i, av.open(str(dst), "w", format="matroska") as o:
        s = o.add_stream_from_template(i.streams.video[0])
        for pkt in i.demux(i.streams.video[0]):
            if pkt.size:
                pkt.stream = s
                o.mux(pkt)
    return dst


@pytest.mark.parametrize("codec", sorted(INTRA))
def test_direct_reads_equal_a_full_decode_and_the_demuxer_path(tmp_path: Path, codec: str) -> None:
    mp4 = _intra(tmp_path / f"{codec}.mp4", codec)
    mkv = _remux(mp4, tmp_path / f"{codec}.mkv")
    ref = full_decode(mp4)
    picks = [5, 0, 29, 5, 11, 12, 28]
    for cached in (False, True):  # first open builds the index; the second starts from it
        if not cached:
            clear_cache()
        with open_video(str(mp4), decoder="pyav") as r:
            assert r._direct is not None and (r._container is None) == cached
            assert r.num_frames == len(ref) == 30
            got = r.get_frames(picks)
            small = r.get_frames(picks, size=(24, 32))
            assert r.frames_decoded == 2 * len(set(picks))  # one decode per distinct frame
        assert_frames_match(got, ref, picks, exact=True, name=f"{codec} direct")
    with open_video(str(mkv), decoder="pyav") as m:
        assert m._direct is None
        np.testing.assert_array_equal(m.get_frames(picks), got)
        np.testing.assert_array_equal(m.get_frames(picks, size=(24, 32)), small)


def test_a_truncated_intra_copy_exposes_only_whole_packets(tmp_path: Path) -> None:
    mp4 = _intra(tmp_path / "cut.mp4", "h264", frames=40, faststart=True)
    ref = full_decode(mp4)
    data = mp4.read_bytes()
    mp4.write_bytes(data[: int(len(data) * 0.7)])  # the index lists frames whose bytes are gone
    clear_cache()
    with open_video(str(mp4), decoder="pyav") as r:
        assert r._direct is not None and 0 < r.num_frames < 40
        assert r.info()["truncated"]
        picks = list(range(r.num_frames))
        assert_frames_match(r.get_frames(picks), ref, picks, exact=True, name="cut")


def test_a_copy_rewritten_after_indexing_is_indexed_again(tmp_path: Path) -> None:
    mp4 = _intra(tmp_path / "v.mp4", "h264", frames=20)
    with open_video(str(mp4), decoder="pyav") as r:
        assert r.num_frames == 20
    _intra(mp4, "h264", frames=30, size=(64, 80))  # same name, new packets and offsets
    with open_video(str(mp4), decoder="pyav") as r:
        assert (r.num_frames, r.height, r.width) == (30, 64, 80)
        assert_frames_match(r.get_frames([0, 29]), full_decode(mp4), [0, 29], exact=True,
                            name="rewritten")


def test_a_copy_deleted_after_indexing_is_a_decode_error(tmp_path: Path) -> None:
    from zelda_core.api import DecodeError

    mp4 = _intra(tmp_path / "v.mp4", "h264", frames=10)
    with open_video(str(mp4), decoder="pyav"):
        pass
    mp4.unlink()
    with pytest.raises(DecodeError, match="no such file"):
        open_video(str(mp4), decoder="pyav")
