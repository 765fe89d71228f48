"""Re-encode one video into a random-access copy, verified frame by frame before it counts.

The copy's frame i is zelda's frame i of the source (decoded with the pyav reader, so the
count and order are zelda's own, whatever the container claims), resized to a short side
(never upscaled), with the source's timestamps and frame rate. It is written to a hidden
temporary name beside the destination and renamed only once verified:

- the copy's frame count (zelda's count) equals the source's;
- its frame rate equals the source's (relative 1e-3) and sampled frames keep their
  timestamps (within half a frame);
- sampled frames match the source's frames at the same size: the mean absolute luma
  difference of their 16x16 thumbnails (the decoder corpus' MANIFEST measure) is at most
  :data:`THUMB_TOL`.

Profiles (chosen by measurement, see docs/data.md):

- ``random-access`` (default): every frame a keyframe, no B-frames, x264 ``tune=fastdecode``
  (CAVLC, no deblocking): a sampled frame costs one packet decode and nothing else;
- ``compact``: keyframe every 16 frames, no B-frames: about half the disk, a few
  frames decoded per frame returned;
- ``copy``: the packets rewrapped unchanged (no resize): only the verification and the
  layout, at native cost.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from zelda_core.api import DecodeError, resolve_size

THUMB_TOL = 2.0
"""Mean absolute luma difference (0-255) allowed between the 16x16 thumbnails of a copied
frame and the source frame at the same size: the decoder tests' tolerance."""

VERIFY_FRAMES = 10
"""Frames compared per video (evenly spread, first and last included)."""

CHUNK = 32
"""Source frames decoded per reader call while encoding."""


@dataclass(frozen=True)
class Profile:
    """x264 settings of one profile (``keyint=0``: rewrap the packets, no re-encode)."""

    name: str
    keyint: int = 1
    bframes: int = 0
    crf: int = 23
    preset: str = "fast"
    tune: str = "fastdecode"

    @property
    def remux(self) -> bool:
        return self.keyint == 0

    def x264_options(self) -> dict[str, str]:
        params = f"keyint={self.keyint}:min-keyint={self.keyint}:scenecut=0:bframes={self.bframes}"
        opts = {"crf": str(self.crf), "preset": self.preset, "x264-params": params}
        if self.tune:
            opts["tune"] = self.tune
        return opts


PROFILES = {
    "random-access": Profile("random-access", keyint=1, bframes=0, crf=23, preset="fast",
                             tune="fastdecode"),
    "compact": Profile("compact", keyint=16, bframes=0, crf=23, preset="medium", tune=""),
    "copy": Profile("copy", keyint=0, tune=""),
}


MIN_SHORT_SIDE = 16
"""The smallest ``--short-side``: a copy is verified on 16x16 thumbnails of its frames."""


class VerifyError(Exception):
    """The copy does not match its source (the copy is discarded)."""


def part_path(dst: str) -> str:
    """The hidden temporary name a copy is written to before it is verified."""
    head, tail = os.path.split(dst)
    stem, ext = os.path.splitext(tail)
    return os.path.join(head, f".{stem}.zelda-part{ext}")


def output_size(height: int, width: int, short_side: int | None) -> tuple[int, int]:
    """(h, w) of the copy: ``short_side`` (MMAction2 rounding) unless that would upscale;
    odd sides become even (H.264 4:2:0 needs even sizes)."""
    if short_side and min(height, width) > short_side:
        h, w = resolve_size(height, width, short_side)
    else:
        h, w = height, width
    return h - h % 2 or 2, w - w % 2 or 2


def thumb16(rgb: np.ndarray) -> np.ndarray:
    """16x16 luma thumbnail as the corpus MANIFEST defines it (flattened, float).

    A side shorter than 16 pixels is first repeated up to 16 or more, so every cell
    averages real pixels (never an empty cell's NaN)."""
    y = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    for axis in (0, 1):
        if 0 < y.shape[axis] < 16:
            y = np.repeat(y, -(-16 // y.shape[axis]), axis=axis)
    return np.array([[cell.mean() for cell in np.array_split(row, 16, axis=1)]
                     for row in np.array_split(y, 16, axis=0)]).ravel()


def sample_indices(n: int, k: int = VERIFY_FRAMES) -> list[int]:
    """``k`` frame indices spread evenly over ``[0, n)``, first and last included."""
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, min(k, n))})


def prepare_video(src: str, dst: str, profile: Profile, short_side: int | None) -> dict[str, Any]:
    """Write the verified copy of ``src`` to ``dst``.

    Returns ``{"frames", "width", "height", "out_size", "max_thumb_diff"}``. Raises
    DecodeError when the source cannot be decoded, VerifyError when the copy does not
    match it and OSError when writing fails (a full disk: worth a retry); the temporary
    file is removed either way and ``dst`` is left untouched.
    """
    from .reader import PyAVReader

    os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
    part = part_path(dst)
    try:
        with _closing(PyAVReader(src)) as reader:
            n = reader.num_frames
            if profile.remux:
                h, w = reader.height, reader.width
                _remux(src, part)
            else:
                h, w = output_size(reader.height, reader.width, short_side)
                _encode(reader, part, h, w, profile)
            diff = _verify(reader, part, h, w, profile)
        os.replace(part, dst)
    except BaseException:
        try:
            os.unlink(part)
        except FileNotFoundError:
            pass
        raise
    return {"frames": n, "width": w, "height": h, "out_size": os.path.getsize(dst),
            "max_thumb_diff": round(diff, 3)}


class _closing:
    def __init__(self, reader: Any) -> None:
        self.reader = reader

    def __enter__(self) -> Any:
        return self.reader

    def __exit__(self, *exc: object) -> None:
        self.reader.close()


def _container_format(dst: str) -> str:
    """MP4 for every re-encode (FFmpeg and decord open files by content, whatever the
    extension), Matroska where the name says .mkv/.webm."""
    return "matroska" if dst.lower().endswith((".mkv", ".webm")) else "mp4"


def _timing(reader: Any) -> tuple[Fraction, list[int], list[int], Fraction]:
    """(time_base, pts of frame i, duration of frame i, frame rate): the source's own
    timestamps where frames are in presentation order, else frame counts at the average
    rate."""
    idx = reader.index
    rate = Fraction(reader.fps).limit_denominator(100000) if reader.fps > 0 else Fraction(25)
    n = reader.num_frames
    if idx.by_pts and idx.display is None:
        pts = [idx.pts[idx.decode_pos(i)] for i in range(n)]
        if all(a < b for a, b in zip(pts, pts[1:])):
            tb = Fraction(*idx.time_base)
            durations = [b - a for a, b in zip(pts, pts[1:])]
            # the last frame's duration closes the stream at n / fps: the copy then reports
            # the source's average rate (what zelda calls fps)
            last = round(n / rate / tb) - (pts[-1] - pts[0])
            if last <= 0:
                last = durations[-1] if durations else 1
            return tb, pts, durations + [last], rate
    return 1 / rate, list(range(n)), [1] * n, rate


def _encode(reader: Any, part: str, h: int, w: int, profile: Profile) -> None:
    import av

    tb, pts, durations, rate = _timing(reader)
    duration_of = dict(zip(pts, durations))
    n = reader.num_frames
    try:
        with av.open(part, "w", format=_container_format(part)) as out:
            stream = out.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.time_base = tb
            stream.codec_context.time_base = tb
            stream.codec_context.thread_count = 1
            stream.options = profile.x264_options()
            for start in range(0, n, CHUNK):
                chunk = list(range(start, min(n, start + CHUNK)))
                for i, rgb in zip(chunk, reader.get_frames(chunk, size=(h, w))):
                    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                    frame.pts, frame.time_base = pts[i], tb
                    _mux(out, stream.encode(frame), duration_of)
            _mux(out, stream.encode(None), duration_of)
    except av.FFmpegError as e:
        if isinstance(e, OSError):  # a full disk, a lost mount: the machine's, retryable
            raise
        raise VerifyError(f"encoding failed ({e})") from e


def _mux(out: Any, packets: list[Any], duration_of: dict[int, int]) -> None:
    for pkt in packets:
        pkt.duration = duration_of.get(pkt.pts, pkt.duration)
        out.mux(pkt)


def _remux(src: str, part: str) -> None:
    """Copy the video packets unchanged into a new container of the same kind."""
    import av

    try:
        with av.open(src) as inp, av.open(part, "w") as out:
            ist = inp.streams.video[0]
            ost = out.add_stream_from_template(ist)
            for pkt in inp.demux(ist):
                if pkt.dts is None and pkt.size == 0:
                    continue
                pkt.stream = ost
                out.mux(pkt)
    except av.FFmpegError as e:
        if isinstance(e, OSError):  # a full disk, a lost mount: the machine's, retryable
            raise
        raise VerifyError(f"rewrapping failed ({e})") from e


def _verify(reader: Any, part: str, h: int, w: int, profile: Profile) -> float:
    """Check the copy against its source (see the module docstring); the largest
    thumbnail difference found."""
    from zelda_decoding.index import build_index

    from .reader import PyAVReader

    n = reader.num_frames
    try:
        copy = PyAVReader(part)
    except DecodeError as e:
        raise VerifyError(f"the copy does not open ({e.reason})") from None
    with _closing(copy):
        copy._index = idx = build_index(part)  # not cached: the name is temporary
        if copy.num_frames != n or idx.num_frames != n:
            raise VerifyError(f"the copy has {idx.num_frames} frames, the source {n}")
        if (copy.height, copy.width) != (h, w):
            raise VerifyError(f"the copy is {copy.width}x{copy.height}, expected {w}x{h}")
        if reader.fps and abs(copy.fps - reader.fps) > 1e-3 * reader.fps:
            raise VerifyError(f"the copy runs at {copy.fps:.4f} fps, the source at {reader.fps:.4f}")
        if not profile.remux and profile.keyint == 1 and not all(idx.keyframe):
            raise VerifyError("the copy is not all keyframes")
        picks = sample_indices(n)
        _check_times(reader, copy, picks)
        mine = copy.get_frames(picks)
        theirs = reader.get_frames(picks, size=(h, w))
    worst = 0.0
    for i, a, b in zip(picks, mine, theirs):
        d = float(np.abs(thumb16(a) - thumb16(b)).mean())
        if not math.isfinite(d) or d > THUMB_TOL:
            raise VerifyError(f"frame {i} of the copy differs from the source's (thumbnail "
                              f"difference {d:.2f} > {THUMB_TOL})")
        worst = max(worst, d)
    return worst


def _check_times(reader: Any, copy: Any, picks: list[int]) -> None:
    """Sampled frames keep their presentation time (relative to the first frame) within
    half a frame, where the source has real timestamps."""
    src, dst = reader.index, copy.index
    if not (src.by_pts and src.display is None and dst.by_pts):
        return
    half = 0.5 / reader.fps if reader.fps else 0.02

    def seconds(idx: Any, i: int) -> float:
        num, den = idx.time_base
        return (idx.pts[idx.decode_pos(i)] - idx.pts[idx.decode_pos(0)]) * num / den

    for i in picks:
        a, b = seconds(src, i), seconds(dst, i)
        if abs(a - b) > half:
            raise VerifyError(f"frame {i} of the copy is shown at {b:.3f} s, in the source at {a:.3f} s")


def profile_settings(profile: Profile, short_side: int | None) -> dict[str, Any]:
    """What prepare.json records as the settings (a change redoes every video)."""
    return {**asdict(profile), "short_side": None if profile.remux else short_side,
            "thumb_tol": THUMB_TOL, "verify_frames": VERIFY_FRAMES, "container": "mp4|matroska"}
