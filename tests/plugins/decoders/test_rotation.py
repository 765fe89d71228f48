"""Rotated phone videos (a display matrix): every decoder returns frames as shown, as
``ffmpeg`` does, reports the shown size, composes a resize at decode with the turn, and
``zelda probe`` says so. The files carry the same packets as their source, so the shown
frames are exactly the source's frames turned (``zelda_testing.shown``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from zelda_transforms.geometry import Resize, resize_frames
from zelda_transforms.loading import Decode

from zelda_core._cli.main import main
from zelda_core._pipeline import Pipeline
from zelda_core.api import VideoOpener, open_video, resolve_size
from zelda_testing.media import X264_B_FRAMES, make_rotated, shown

# (degrees counter-clockwise, mirrored): a portrait phone clip is -90
TURNS = [(-90, False), (90, False), (180, False), (270, False), (90, True), (0, True)]
IDS = [0, 7, 29, 13, 7]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """H.264 with B-frames, 48x64 (not square: a turn by 90 degrees shows), each frame
    a ramp across and down plus a bright corner block, so every turn and mirror shows."""
    import av

    path = tmp_path_factory.mktemp("rot") / "src.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.options = {"x264-params": X264_B_FRAMES, "preset": "ultrafast", "crf": "10"}
        y, x = np.mgrid[0:48, 0:64]
        for i in range(30):
            img = np.stack([x * 3, y * 4, np.full_like(x, 8 * i)], axis=-1).astype(np.uint8)
            img[4:12, 4:20] = 255
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _stored(path: Path, decoder: str, ids: list[int] = IDS) -> np.ndarray:
    with open_video(str(path), decoder) as r:
        return r.get_frames(ids)


@pytest.mark.parametrize("degrees,hflip", TURNS)
def test_frames_are_returned_as_shown(source: Path, tmp_path: Path, decoder_name: str,
                                      degrees: int, hflip: bool) -> None:
    path = make_rotated(tmp_path / "r.mp4", source, degrees, hflip=hflip)
    want = shown(_stored(source, decoder_name), degrees, hflip=hflip)
    with open_video(str(path), decoder_name) as r:
        assert (r.height, r.width) == want.shape[1:3]
        np.testing.assert_array_equal(r.get_frames(IDS), want)
        # a size applies to the shown frames: exactly turning, then resizing
        for size in (24, (20, 30), (-1, 40), (17, -1)):
            h, w = resolve_size(r.height, r.width, size)
            np.testing.assert_array_equal(r.get_frames(IDS, size=size),
                                          resize_frames(want, (h, w)), err_msg=str(size))


def test_autorotate_off_returns_frames_as_stored(source: Path, tmp_path: Path,
                                                 decoder_name: str) -> None:
    path = make_rotated(tmp_path / "r.mp4", source, -90)
    with open_video(str(path), decoder_name, autorotate=False) as r:
        assert (r.height, r.width) == (48, 64)
        np.testing.assert_array_equal(r.get_frames(IDS), _stored(source, decoder_name))


def test_fused_resize_in_a_pipeline(source: Path, tmp_path: Path, decoder_name: str) -> None:
    """decode+resize fused into the reader equals decoding, then resizing, on a rotated
    video; the sample's shapes are the shown ones."""
    path = make_rotated(tmp_path / "r.mp4", source, -90)

    def sample() -> dict:
        return {"filename": str(path), "opener": VideoOpener({"type": decoder_name}),
                "frame_inds": np.array([3, 9, 27])}

    fused = Pipeline([Decode(), Resize(size=32)])
    unfused = Pipeline([Decode(), Resize(size=32, fuse=False)])
    assert fused.fused
    a, b = fused(sample()), unfused(sample())
    np.testing.assert_array_equal(a["imgs"], b["imgs"])
    assert a["original_shape"] == b["original_shape"] == (64, 48)
    assert a["img_shape"] == b["img_shape"] == (43, 32)


def test_real_clip_turned_like_a_phone_video(shared_dir: Path, tmp_path: Path,
                                             decoder_name: str) -> None:
    """A kinetics2_tiny clip (456x256, 540 frames) stored as a portrait phone clip:
    decord once refused every such file ("returned frames of (456, 256), not ...")."""
    src = shared_dir / "data" / "kinetics2_tiny" / "train" / "typing1.mp4"
    path = make_rotated(tmp_path / "phone.mp4", src, -90)
    ids = [0, 200, 539, 31]
    want = shown(_stored(src, decoder_name, ids), -90)
    with open_video(str(path), decoder_name) as r:
        assert (r.width, r.height) == (256, 456)
        np.testing.assert_array_equal(r.get_frames(ids), want)
        h, w = resolve_size(456, 256, 224)
        np.testing.assert_array_equal(r.get_frames(ids, size=224), resize_frames(want, (h, w)))


def test_probe_shows_the_rotation(source: Path, tmp_path: Path, decoder_name: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    portrait = make_rotated(tmp_path / "portrait.mp4", source, -90)
    upside = make_rotated(tmp_path / "upside.mp4", source, 180)
    assert main(["probe", "--decoder", decoder_name, str(portrait), str(upside), str(source)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "48x64 (turned 90 degrees clockwise)" in lines[0]
    assert "64x48 (turned 180 degrees clockwise)" in lines[1]
    assert "64x48, h264" in lines[2]  # no matrix: nothing said
    assert main(["probe", "--json", "--decoder", decoder_name, str(portrait)]) == 0
    info = json.loads(capsys.readouterr().out)[0]
    assert (info["width"], info["height"], info["rotation"]) == (48, 64, 90)
