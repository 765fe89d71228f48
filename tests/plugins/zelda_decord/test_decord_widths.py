"""decord 0.6 decodes frames 16, 24, 48 or 72 pixels wide but cannot copy them out
("DECORDArrayCopyFromTo"): the decord reader still returns every frame, through the pyav
reader, and says so."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from decoder_fixtures import assert_frames_match
from extras import need
from media import full_decode, make_video

from zelda_core._video import open_video

need("decord", "decord")


@pytest.mark.parametrize("width", [16, 24, 48, 72])
@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".avi"])
def test_widths_decord_cannot_copy_still_decode(tmp_path: Path, width: int, suffix: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    import decord

    path = make_video(tmp_path / f"w{width}{suffix}", 20, size=(32, width))
    with pytest.raises(decord.DECORDError, match="DECORDArrayCopyFromTo"):
        decord.VideoReader(str(path)).get_batch([0]).asnumpy()  # the bug this works around
    ref = full_decode(path)
    picks = [19, 0, 7, 7, 12]
    with caplog.at_level(logging.WARNING), open_video(str(path), decoder="decord") as r:
        assert r.num_frames == 20
        got = r.get_frames(picks)
        small = r.get_frames(picks, size=(16, 16))
        assert "pyav" in r.info()["decoded_by"]
    assert_frames_match(got, ref, picks, exact=False, name=path.name)
    assert small.shape == (5, 16, 16, 3)
    assert sum("decord cannot copy out frames" in m for m in caplog.messages) == 1


def test_other_widths_stay_with_decord(tmp_path: Path) -> None:
    path = make_video(tmp_path / "w64.mp4", 20, size=(32, 64))
    with open_video(str(path), decoder="decord") as r:
        r.get_frames([0, 19])
        assert "decoded_by" not in r.info()
