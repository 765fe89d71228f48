"""zelda's packet index as torchcodec's ``custom_frame_mappings``: torchcodec then locates
frame i where zelda's index puts it, without its own scan and never from the header.

The index lists the frames a full decode yields (packets marked discard left out, a file
cut short ending at its last whole packet) in display order, with the keyframe each one
needs; this module writes them in the JSON torchcodec reads (ffprobe's ``-show_frames``
layout: pts, duration, key_frame per frame, in the stream's time base).
"""

from __future__ import annotations

import json

from zelda_decoding.index import PacketIndex


def frame_mappings(idx: PacketIndex) -> str:
    """The ``custom_frame_mappings`` JSON for a pts-ordered index (``idx.by_pts`` and no
    computed display order)."""
    pts = [idx.pts[idx.decode_pos(i)] for i in range(idx.num_frames)]
    keys = [idx.keyframe[idx.decode_pos(i)] for i in range(idx.num_frames)]
    steps = [b - a for a, b in zip(pts, pts[1:])]
    last = steps[-1] if steps else 1
    frames = [{"pts": p, "duration": d, "key_frame": int(k)}
              for p, d, k in zip(pts, [*steps, last], keys)]
    return json.dumps({"frames": frames})


def frame_seconds(idx: PacketIndex, indices: list[int]) -> list[float]:
    """Presentation time in seconds of each frame index (the stream's time base)."""
    num, den = idx.time_base
    return [idx.pts[idx.decode_pos(i)] * num / den for i in indices]
