"""Helpers for the decoder tests: the shared video corpus and its thumbnails (media: media.py)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
from media import full_decode, make_edit_list_video, make_video  # noqa: F401 - old import path; use media

REPO = Path(__file__).resolve().parents[2]

# keep the packet-index disk cache of test runs out of ~/.cache
os.environ.setdefault("ZELDA_CACHE_DIR", tempfile.mkdtemp(prefix="zelda-test-cache-"))


def shared_videos() -> Path:
    """``../shared/data/videos`` (or under $ZELDA_SHARED), whether or not it exists."""
    return Path(os.environ.get("ZELDA_SHARED", REPO.parent / "shared")) / "data" / "videos"


def manifest() -> dict[str, dict]:
    """MANIFEST.json of the shared decoder corpus, or {} when the corpus is absent."""
    path = shared_videos() / "MANIFEST.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def thumb16(rgb: np.ndarray) -> np.ndarray:
    """The corpus README's 16x16 luma thumbnail of one RGB frame (flattened, float)."""
    rgb = rgb.astype(np.float64)
    y = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.array(
        [[cell.mean() for cell in np.array_split(row, 16, axis=1)] for row in np.array_split(y, 16, axis=0)]
    ).ravel()





ENCODERS = {
    # codec: (PyAV encoder, options, pixel format)
    "h264": ("libx264", {"preset": "ultrafast", "crf": "10", "x264-params": "keyint=12:bframes=2"}, "yuv420p"),
    "hevc": ("libx265", {"preset": "ultrafast", "crf": "10",
                         "x265-params": "keyint=12:bframes=2:log-level=none"}, "yuv420p"),
    "vp8": ("libvpx", {"g": "12", "crf": "10", "b": "1M"}, "yuv420p"),
    "vp9": ("libvpx-vp9", {"g": "12", "crf": "10", "b": "0", "speed": "8"}, "yuv420p"),
    "av1": ("libsvtav1", {"g": "12", "preset": "12", "crf": "30", "svtav1-params": "log-level=0"}, "yuv420p"),
    "mpeg4": ("mpeg4", {"g": "12", "qscale": "2", "bf": "2"}, "yuv420p"),
    "mjpeg": ("mjpeg", {}, "yuvj420p"),
}
"""Every codec PyAV can encode here, for the codec x container matrix."""

CONTAINERS = {"mp4": "mp4", "mkv": "matroska", "webm": "webm", "avi": "avi"}


def make_codec_video(path: Path, codec: str, frames: int = 24, size: tuple[int, int] = (48, 64)) -> Path | None:
    """Encode ``frames`` frames with ``codec`` into ``path`` (container from its suffix).

    None when this PyAV has no such encoder or the container refuses the codec.
    """
    import av

    enc, opts, pix = ENCODERS[codec]
    if enc not in av.codecs_available:
        return None
    h, w = size
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner to stderr otherwise
    try:
        with av.open(str(path), "w", format=CONTAINERS[path.suffix[1:]]) as c:
            s = c.add_stream(enc, rate=25)
            s.width, s.height, s.pix_fmt = w, h, pix
            s.options = opts
            yy, xx = np.mgrid[0:h, 0:w]
            for i in range(frames):
                img = np.empty((h, w, 3), np.uint8)
                img[..., 0] = 128 + 100 * np.sin(2 * np.pi * (xx / w + i / 40))
                img[..., 1] = 128 + 100 * np.sin(2 * np.pi * (yy / h + i / 17))
                img[..., 2] = (i * 37) % 256
                for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    c.mux(pkt)
            for pkt in s.encode():
                c.mux(pkt)
    except ValueError:  # "'webm' format does not support 'libx264' codec"
        path.unlink(missing_ok=True)
        return None
    return path


def assert_frames_match(got: np.ndarray, ref: list[np.ndarray], ids: list[int], exact: bool, name: str) -> None:
    """``got[k]`` is frame ``ids[k]`` of the full decode ``ref``: bit-identical when
    ``exact`` (pyav), else (decord, its own FFmpeg build) within 3 grey levels on average
    and nearer to it than to either neighbour."""
    assert got.shape == (len(ids), *ref[0].shape), f"{name}: shape {got.shape}"
    for k, i in enumerate(ids):
        if exact:
            np.testing.assert_array_equal(got[k], ref[i], err_msg=f"{name} frame {i}")
            continue
        d = np.abs(got[k].astype(int) - ref[i]).mean()
        assert d < 3.0, f"{name} frame {i}: off by {d:.2f} on average"
        for j in (i - 1, i + 1):
            if 0 <= j < len(ref) and np.abs(ref[j].astype(int) - ref[i]).mean() > 1.0:
                assert d < np.abs(got[k].astype(int) - ref[j]).mean(), f"{name}: frame {i} looks like {j}"
