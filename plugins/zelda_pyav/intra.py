"""The cheapest exact path on all-keyframe files (``zelda data prepare`` copies).

When every packet is a keyframe, frame i needs exactly one packet decoded and nothing
else: no GOP walk, no reference frames, no decoder flush between frames.

- In MP4/MOV the packet index knows where each packet's bytes lie, so
  :class:`DirectPackets` reads them straight from the file and decodes them with a
  decoder of its own: the container is never opened (opening it and seeking cost a
  third of a prepared clip's decode).
- Elsewhere each requested frame is reached by reading forward when it is at most
  :data:`READ_AHEAD` packets ahead of the demuxer, else by one container seek.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from zelda_decoding.cursor import PacketCursor
from zelda_decoding.index import PacketIndex

READ_AHEAD = 2
"""Packets read (not decoded) to reach the next wanted one before a seek is cheaper."""


def is_all_keyframes(idx: PacketIndex) -> bool:
    """Every packet a keyframe, in presentation order, none discarded."""
    return idx.by_pts and idx.display is None and idx.discard is None and all(idx.keyframe)


DIRECT_CODECS = ("h264", "hevc", "mjpeg")
"""Codecs whose MP4 samples decode alone given the stream's extradata."""


def can_read_direct(idx: PacketIndex) -> bool:
    """All keyframes, packet offsets known, a codec :class:`DirectPackets` can feed."""
    return idx.offsets is not None and idx.codec in DIRECT_CODECS and is_all_keyframes(idx)


class DirectPackets:
    """Packets of an all-keyframe MP4 read at their file offsets, and their own decoder."""

    def __init__(self, path: str, idx: PacketIndex, threads: int = 1) -> None:
        import av

        self.index = idx
        self.cc = av.CodecContext.create(idx.codec, "r")
        if idx.extradata:
            self.cc.extradata = bytes.fromhex(idx.extradata)
        self.cc.thread_count = max(1, threads)
        if threads > 1:
            self.cc.thread_type = "SLICE"  # one packet at a time: frame threads only delay
        self.fd = os.open(path, os.O_RDONLY)

    def packet(self, pos: int) -> Any:
        """Packet ``pos`` with its timestamps, or None when the file no longer holds it."""
        import av

        size = self.index.sizes[pos]  # type: ignore[index]
        data = os.pread(self.fd, size, self.index.offsets[pos])  # type: ignore[index]
        if len(data) != size:
            return None
        pkt = av.Packet(data)
        pkt.pts = self.index.pts[pos]
        pkt.dts = self.index.dts[pos]
        return pkt

    def close(self) -> None:
        """Close the file."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


Convert = Callable[[Any], np.ndarray]
"""A decoded frame to its RGB array at the requested size (the reader's conversion)."""


def decode_direct(direct: DirectPackets, uniq: list[int], convert: Convert) -> tuple[dict[int, np.ndarray], int]:
    """Frames ``uniq`` read through ``direct``, one read and one decode each, and the
    number of frames the decoder produced.

    A frame that fails to decode alone or does not come out as the index says (another
    size or timestamp) is left out; the reader then opens the container and decodes it the
    general way, which raises DecodeError if the file really is damaged.
    """
    import av

    idx, cc = direct.index, direct.cc
    got: dict[int, np.ndarray] = {}
    decoded = 0
    for i in uniq:
        pos = idx.decode_pos(i)
        pkt = direct.packet(pos)
        if pkt is None:
            break
        try:
            frames = _decode_alone(cc, pkt)
        except av.FFmpegError:  # e.g. a packet that needs the demuxer's side data
            cc.flush_buffers()
            continue
        for frame in frames:
            decoded += 1
            if frame.pts == idx.pts[pos] and (frame.width, frame.height) == (idx.width, idx.height):
                got[i] = convert(frame)
    return got, decoded


def decode_keyframes(cursor: PacketCursor, cc: Any, uniq: list[int],
                     convert: Convert) -> tuple[dict[int, np.ndarray], int]:
    """Frames ``uniq`` of an all-keyframe file, one packet decode each, demuxed through
    ``cursor`` and decoded by ``cc``; and the number of frames the decoder produced.

    Frames that do not come out as expected are left out of the result; the reader's
    general path then decodes them. The decoder must restart from a keyframe afterwards.
    """
    idx = cursor.index
    cc.skip_frame = "DEFAULT"
    got: dict[int, np.ndarray] = {}
    decoded = 0
    for pos, i in sorted((idx.decode_pos(i), i) for i in uniq):
        pkt = _packet_at(cursor, pos)
        if pkt is None:
            break
        for frame in _decode_alone(cc, pkt):
            decoded += 1
            if idx.pos_of_pts(frame.pts) == pos:
                got[i] = convert(frame)
    return got, decoded


def _decode_alone(cc: Any, pkt: Any) -> list[Any]:
    """The frames of one intra packet; a decoder that delays output is flushed (and made
    ready for the next packet)."""
    frames = cc.decode(pkt)
    if not frames:
        frames = cc.decode(None)
        cc.flush_buffers()
    return frames


def _packet_at(cursor: PacketCursor, pos: int) -> Any:
    """The demuxed packet at decode position ``pos`` (None if the file does not yield it)."""
    try:
        cursor.goto(pos, read_ahead=READ_AHEAD)
    except LookupError:
        return None
    pkt = cursor.next()
    cursor.next_pos = pos + 1  # every packet is a frame, in order
    return pkt
