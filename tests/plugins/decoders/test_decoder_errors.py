"""Unreadable files raise DecodeError naming the file and the reason, for both backends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from decoder_fixtures import assert_frames_match, manifest
from media import full_decode, make_video

from zelda_core._errors import DecodeError, ZeldaError
from zelda_core._video import open_video

BAD = sorted(k for k, v in manifest().items() if "error" in v) or ["(no shared corpus)"]


@pytest.mark.parametrize("name", BAD)
def test_corpus_bad_files(shared_dir: Path, decoder_name: str, name: str) -> None:
    path = shared_dir / "data" / "videos" / name
    with pytest.raises(DecodeError) as info:
        open_video(str(path), decoder=decoder_name)
    assert isinstance(info.value, ZeldaError)
    assert str(path) in str(info.value) and info.value.reason


def _expect(path: Path, decoder: str, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason) as info:
        open_video(str(path), decoder=decoder)
    assert info.value.path == str(path)


def test_empty(tmp_path: Path, decoder_name: str) -> None:
    p = tmp_path / "empty.mp4"
    p.write_bytes(b"")
    _expect(p, decoder_name, "empty")


def test_not_a_video(tmp_path: Path, decoder_name: str) -> None:
    p = tmp_path / "notes.mp4"
    p.write_text("this is a shopping list, not a video\n" * 20)
    _expect(p, decoder_name, "not a readable video")


def test_missing_and_directory(tmp_path: Path, decoder_name: str) -> None:
    _expect(tmp_path / "nope.mp4", decoder_name, "no such file")
    _expect(tmp_path, decoder_name, "directory")


def test_truncated_moov_lost(tmp_path: Path, decoder_name: str) -> None:
    """The muxer writes moov last; cutting the file loses it."""
    src = make_video(tmp_path / "whole.mp4", frames=30)
    p = tmp_path / "cut.mp4"
    p.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    _expect(p, decoder_name, "not a readable video")


def test_truncated_data_fails_cleanly(tmp_path: Path, decoder_name: str) -> None:
    """moov first, media data cut at 60%: the file opens, ``num_frames`` counts only the
    frames that really decode (some, not all 30), each of them is the source's frame (a
    plain PyAV decode of the whole file), and the first index past them is an IndexError."""
    src = make_video(tmp_path / "fast.mp4", frames=30, faststart=True)
    ref = full_decode(src)
    p = tmp_path / "cut.mp4"
    p.write_bytes(src.read_bytes()[: int(src.stat().st_size * 0.6)])
    with open_video(str(p), decoder=decoder_name) as r:
        n = r.num_frames
        assert 0 < n < 30
        for i in range(n):
            assert_frames_match(r.get_frames([i]), ref, [i], decoder_name == "pyav", p.name)
        with pytest.raises(IndexError):
            r.get_frames([n])


def test_no_video_stream(tmp_path: Path, decoder_name: str) -> None:
    import av

    p = tmp_path / "sound.wav"
    with av.open(str(p), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for pkt in s.encode(frame):
            c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    _expect(p, decoder_name, "no video stream")


def test_unsupported_codec(tmp_path: Path, decoder_name: str) -> None:
    """An MP4 whose video sample entry names a codec FFmpeg does not know."""
    src = make_video(tmp_path / "ok.mp4", frames=5)
    p = tmp_path / "alien.mp4"
    p.write_bytes(src.read_bytes().replace(b"avc1", b"zzz1"))
    _expect(p, decoder_name, "unsupported codec")


def test_error_message_names_file_and_reason(tmp_path: Path, decoder_name: str) -> None:
    p = tmp_path / "junk.mkv"
    p.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(DecodeError) as info:
        open_video(str(p), decoder=decoder_name)
    text = str(info.value)
    assert text.startswith(f"cannot decode {p}: ") and len(text) < 400


def test_corrupted_bytes_raise_only_decode_error(tmp_path: Path, decoder_name: str) -> None:
    """Flipped, zeroed or cut bytes: every frame decodes or DecodeError; nothing else."""
    import random

    src = make_video(tmp_path / "src.mp4", frames=40).read_bytes()
    rng = random.Random(0)
    outcomes = set()
    for k in range(12):
        data = bytearray(src)
        if k % 3 == 0:
            for _ in range(20):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif k % 3 == 1:
            data = data[: rng.randrange(len(data))]
        else:
            at = rng.randrange(len(data))
            data[at : at + 500] = bytes(500)
        path = tmp_path / f"bad{k}.mp4"
        path.write_bytes(bytes(data))
        try:
            with open_video(str(path), decoder=decoder_name) as r:
                r.get_frames(list(range(r.num_frames)))
                r.get_frames([r.num_frames - 1, 0])
            outcomes.add("ok")
        except DecodeError as e:
            assert str(path) in str(e)
            outcomes.add("error")
    assert "error" in outcomes
