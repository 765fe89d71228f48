"""The cheapest exact path on all-keyframe files (``zelda data prepare`` copies).

When every packet is a keyframe, frame i needs exactly one packet decoded and nothing
else: no GOP walk, no reference frames, no decoder flush between frames. Each requested
frame is reached by reading forward when it is at most :data:`READ_AHEAD` packets ahead of
the demuxer, else by one container seek (on MP4 a seek is a lookup in the sample table,
cheaper than reading a few intra packets).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .index import PacketIndex

READ_AHEAD = 2
"""Packets read (not decoded) to reach the next wanted one before a seek is cheaper."""


def is_all_keyframes(idx: PacketIndex) -> bool:
    """Every packet a keyframe, in presentation order, none discarded."""
    return idx.by_pts and idx.display is None and idx.discard is None and all(idx.keyframe)


def decode_keyframes(reader: Any, uniq: list[int], h: int, w: int) -> dict[int, np.ndarray]:
    """Frames ``uniq`` of an all-keyframe file, one packet decode each.

    Frames that do not come out as expected are left out of the result; the reader's
    general path then decodes them. The reader's decoder position is reset afterwards.
    """
    idx = reader._index
    cc = reader._cc
    cc.skip_frame = "DEFAULT"
    got: dict[int, np.ndarray] = {}
    for pos, i in sorted((idx.decode_pos(i), i) for i in uniq):
        pkt = _packet_at(reader, pos)
        if pkt is None:
            break
        frames = cc.decode(pkt)
        if not frames:  # a decoder that delays output: flush it
            frames = cc.decode(None)
            cc.flush_buffers()
        for frame in frames:
            reader.frames_decoded += 1
            if idx.pos_of_pts(frame.pts) == pos:
                got[i] = reader._convert(frame, h, w)
    reader._fed = None  # the general path restarts from a keyframe
    return got


def _packet_at(reader: Any, pos: int) -> Any:
    """The demuxed packet at decode position ``pos`` (None if the file does not yield it)."""
    cursor = reader._cursor
    try:
        cursor.goto(pos, read_ahead=READ_AHEAD)
    except LookupError:
        return None
    pkt = cursor.next()
    cursor.next_pos = pos + 1  # every packet is a frame, in order
    return pkt
