"""Truncated files (a copy or download cut mid-data), with the backend under test.

A reader exposes exactly the frames that decode (the ones a tolerant sequential PyAV
decode yields), and ``info()`` / ``zelda probe`` say the file is truncated. An MP4 whose
index (moov) comes last loses it when cut: refused at open with a DecodeError naming
the file. The files are made here: encode, cut, read.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from decoder_fixtures import assert_frames_match, make_codec_video, make_video

from zelda_core._cli.main import main
from zelda_core.api import DecodeError, open_video

SOURCES = {
    "faststart.mp4": lambda p: make_video(p, frames=74, faststart=True),
    "h264.mkv": lambda p: make_video(p, frames=74, fmt="matroska"),
    "h264.avi": lambda p: make_video(p, frames=74, fmt="avi"),
    "vp9.webm": lambda p: make_codec_video(p, "vp9", frames=74),
    "mjpeg.avi": lambda p: make_codec_video(p, "mjpeg", frames=74),
}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cut")


def _cut(src: Path, frac: float) -> Path:
    data = src.read_bytes()
    out = src.with_name(f"cut{int(frac * 100)}_{src.name}")
    out.write_bytes(data[: int(len(data) * frac)])
    return out


def _tolerant_decode(path: Path) -> list[np.ndarray]:
    """The frames a sequential PyAV decode gets from the packets the file holds whole
    (the demuxer flags one cut short by the end of the file corrupt)."""
    import av

    frames = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count = 1
        try:
            for pkt in c.demux(s):
                if pkt.is_corrupt:
                    break
                if not pkt.size:  # the demuxer's flush packet: flushed below
                    continue
                frames += [f.to_ndarray(format="rgb24") for f in s.codec_context.decode(pkt)]
        except av.FFmpegError:
            pass
        frames += [f.to_ndarray(format="rgb24") for f in s.codec_context.decode(None)]
    return frames


@pytest.mark.parametrize("frac", [0.6, 0.93])
@pytest.mark.parametrize("name", list(SOURCES))
def test_truncated_file_exposes_only_what_decodes(media: Path, decoder_name: str, name: str,
                                                  frac: float) -> None:
    src = media / name
    if not src.exists() and SOURCES[name](src) is None:
        pytest.skip(f"cannot encode {name} here")
    with open_video(str(src), decoder=decoder_name) as r:
        assert r.num_frames == 74 and "truncated" not in r.info()
    path = _cut(src, frac)
    ref = _tolerant_decode(path)
    assert 0 < len(ref) < 74
    with open_video(str(path), decoder=decoder_name) as r:
        assert r.num_frames == len(ref)
        assert r.info()["truncated"]
        n = len(ref)
        for ids in ([n - 1], [n - 3, n - 2, n - 1, 0], list(range(n))):
            assert_frames_match(r.get_frames(ids), ref, ids, decoder_name == "pyav", path.name)


def test_truncated_mp4_without_its_index_is_refused(media: Path, decoder_name: str) -> None:
    path = _cut(make_video(media / "moov_last.mp4", frames=74), 0.8)
    with pytest.raises(DecodeError, match=str(path)):
        open_video(str(path), decoder=decoder_name)


def test_probe_says_truncated(media: Path, decoder_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = _cut(make_video(media / "probe.mp4", frames=74, faststart=True), 0.6)
    assert main(["probe", "--decoder", decoder_name, str(path)]) == 0
    assert "TRUNCATED" in capsys.readouterr().out
    assert main(["probe", "--json", "--decoder", decoder_name, str(path)]) == 0
    (info,) = json.loads(capsys.readouterr().out)
    assert "cut short" in info["truncated"] and info["frames"] < 74
