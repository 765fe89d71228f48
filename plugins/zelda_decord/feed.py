"""In-memory streams that hold just the packets a frame request needs, for decord.

decord decodes every frame between a keyframe and the frame asked for, and seeks to
wrong frames in open-GOP and AVI files. Handing it only the packets the request needs,
remuxed (no decoding) into an in-memory MP4 file with a single keyframe flag, fixes
both: decord then reads one forward pass and never seeks, and it never sees

- the packets before each needed keyframe or after the last needed frame of a GOP;
- H.264 non-reference pictures that nobody asked for (no other picture refers to
  them, so dropping them leaves every other picture bit-identical, as FFmpeg's
  ``skip_frame`` does for the pyav reader);
- the leading pictures of a run's first keyframe (shown before it, they need the
  previous GOP; a request that needs one starts at that GOP instead).

Segments (keyframe to last needed frame) are chained into one stream only where the
next keyframe resets the decoder (an H.264/HEVC IDR picture, a VP8/VP9 keyframe, any
frame of an intra-only codec); otherwise each starts a new stream, as a seek would.
Packets get synthetic timestamps: display rank as pts, feed order as dts, so frame k
of the stream is the fed picture of display rank k whatever the source container.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av

from zelda_decoding.cursor import PacketCursor
from zelda_decoding.h264_order import nal_spans
from zelda_decoding.index import PacketIndex, open_container, video_stream

CLEAN_KEYFRAME_CODECS = ("vp8", "vp9")
"""Codecs whose every keyframe resets all reference state."""

MUX_FORMATS = ("mp4",)
"""In-memory containers tried in turn. Only MP4: decord counts an in-memory stream's
frames from its header, and refuses Matroska ("Failed to measure duration/frame-count");
files whose codec MP4 cannot carry (VP8) are read by decord itself (FeedError)."""


class FeedError(LookupError):
    """No in-memory container carries this codec: decord has to read the file itself."""


@dataclass
class Run:
    """One in-memory stream: decord frame ``ranks[n]`` is requested frame ``frames[n]``."""

    data: bytes
    packets: int
    frames: list[int]
    ranks: list[int]


def nal_headers(data: Any, length_size: int) -> Iterator[int]:
    """First byte of each NAL unit of a packet: length-prefixed (avcC/hvcC) or Annex B."""
    buf = memoryview(data) if length_size else bytes(data)
    for start, end in nal_spans(buf, length_size):
        if start < end:
            yield buf[start]


def h264_kind(data: Any, length_size: int) -> tuple[bool, bool]:
    """(is a reference picture, is an IDR picture) of one H.264 packet."""
    ref = idr = False
    for h in nal_headers(data, length_size):
        if (h & 0x1F) in (1, 5):  # slices
            ref |= bool(h & 0x60)  # nal_ref_idc
            idr |= (h & 0x1F) == 5
    return ref, idr


def hevc_idr(data: Any, length_size: int) -> bool:
    """Whether an HEVC packet holds an IDR picture (NAL types 19 and 20)."""
    return any(((h >> 1) & 0x3F) in (19, 20) for h in nal_headers(data, length_size))


def _length_size(codec: str, extradata: bytes | None) -> int:
    """NAL length-prefix size from avcC/hvcC extradata; 0 for Annex B start codes."""
    if not extradata or extradata[0] != 1:
        return 0
    if codec == "h264" and len(extradata) > 4:
        return (extradata[4] & 3) + 1
    if codec == "hevc" and len(extradata) > 21:
        return (extradata[21] & 3) + 1
    return 0


class Feeder:
    """Builds :class:`Run` streams from one file's packets (one open container)."""

    def __init__(self, path: str, index: PacketIndex) -> None:
        self.path = path
        self.index = index
        self._container = open_container(path)
        try:
            self._stream = video_stream(self._container, path)
        except BaseException:
            self._container.close()
            raise
        self._codec = index.codec
        self._length = _length_size(self._codec, self._stream.codec_context.extradata)
        self._intra_only = all(index.keyframe)
        self._cursor = PacketCursor(self._container, self._stream, index)
        self._format: str | None = None  # the first of MUX_FORMATS that carried a stream

    def close(self) -> None:
        self._cursor.reset()
        self._container.close()

    # -- planning ---------------------------------------------------------------------

    def runs(self, frames: list[int]) -> list[Run]:
        """Streams that together hold ``frames`` (sorted, unique frame indices)."""
        idx = self.index
        pos_of = {i: idx.decode_pos(i) for i in frames}
        # segments: (start keyframe, last needed packet), merged where they overlap
        segments: list[list[int]] = []
        for key, pos in sorted((idx.start_key(p), p) for p in pos_of.values()):
            if segments and key <= segments[-1][1]:
                segments[-1][1] = max(segments[-1][1], pos)
            else:
                segments.append([key, pos])
        need = set(pos_of.values())
        frame_at = {p: i for i, p in pos_of.items()}
        runs: list[Run] = []
        fed: list[tuple[int, Any]] = []
        for key, last in segments:
            packets = self._read(key, last)
            clean = self._clean(key, packets[0][1])
            if fed and not clean:  # a seek, for the decoder: a new stream
                runs.append(self._mux(fed, need, frame_at))
                fed = []
            skip_leading = not fed and not clean
            for p, pkt in packets:
                if p not in need and p != key:
                    if skip_leading and self._rank(p) < self._rank(key):
                        continue  # a leading picture of this stream's first keyframe
                    if self._codec == "h264" and not h264_kind(pkt, self._length)[0]:
                        continue  # a non-reference picture nobody asked for
                fed.append((p, pkt))
        if fed:
            runs.append(self._mux(fed, need, frame_at))
        return runs

    def _rank(self, pos: int) -> int:
        idx = self.index
        return (idx.display if idx.display is not None else idx.pts)[pos]

    def _clean(self, pos: int, pkt: Any) -> bool:
        """Whether decoding can restart at packet ``pos`` without a decoder flush."""
        if self._intra_only or self._codec in CLEAN_KEYFRAME_CODECS:
            return True
        if self.index.display is not None:  # H.264 in AVI: keyframes are IDR pictures
            return True
        if self._codec == "h264":
            return h264_kind(pkt, self._length)[1]
        if self._codec == "hevc":
            return hevc_idr(pkt, self._length)
        return False

    # -- demuxing ---------------------------------------------------------------------

    def _read(self, key: int, last: int) -> list[tuple[int, Any]]:
        """Packets at decode positions ``key..last`` as (position, packet)."""
        cursor = self._cursor
        cursor.goto(key)  # LookupError: the reader lets decord read the file instead
        out = []
        while True:
            pkt = cursor.next()
            if pkt is None:
                cursor.next_pos = None
                break
            p = cursor.position(pkt)
            if p is None:
                continue
            if p > last:
                cursor.push(pkt, p)
                break
            cursor.next_pos = p + 1
            out.append((p, pkt))
        if not out or out[0][0] != key or out[-1][0] != last:
            raise LookupError(f"packets {key}..{last} not found by demuxing")
        return out

    # -- muxing -----------------------------------------------------------------------

    def _mux(self, fed: list[tuple[int, Any]], need: set[int], frame_at: dict[int, int]) -> Run:
        """Write ``fed`` (decode order) as an in-memory stream with one keyframe flag."""
        order = sorted(range(len(fed)), key=lambda k: self._rank(fed[k][0]))
        rank = [0] * len(fed)
        for r, k in enumerate(order):
            rank[k] = r
        delay = max(0, max(k - r for k, r in enumerate(rank)))
        data = None
        for fmt in (self._format,) if self._format else MUX_FORMATS:
            try:
                data = self._write(fed, rank, delay, fmt)
            except (av.FFmpegError, ValueError) as e:  # the muxer refuses this codec
                reason = f"{type(e).__name__}: {e}"
                continue
            self._format = fmt
            break
        if data is None:
            raise FeedError(f"no in-memory container carries {self._codec} ({reason})")
        chosen = sorted((rank[k], frame_at[p]) for k, (p, _) in enumerate(fed) if p in need)
        return Run(
            data=data,
            packets=len(fed),
            frames=[i for _, i in chosen],
            ranks=[r for r, _ in chosen],
        )

    def _write(self, fed: list[tuple[int, Any]], rank: list[int], delay: int, fmt: str) -> bytes:
        buf = io.BytesIO()
        tb = Fraction(1, 1000)
        with av.open(buf, "w", format=fmt) as out:
            # opaque: copy the stream parameters only; no encoder is looked up (there is
            # none for decoder-only names such as libdav1d)
            ost = out.add_stream_from_template(self._stream, opaque=True)
            ost.set_display_rotation(0)  # frames as stored: VideoReader turns them
            ost.time_base = tb
            for k, (_, pkt) in enumerate(fed):
                pkt.stream = ost
                pkt.time_base = tb
                pkt.dts = k
                pkt.pts = rank[k] + delay
                pkt.duration = 1
                pkt.is_keyframe = k == 0
                out.mux(pkt)
        return buf.getvalue()
