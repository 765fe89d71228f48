"""A video's display matrix as the turn and flips that show its frames upright.

Phone videos store frames as the sensor read them and say in a display matrix (MP4's
``tkhd`` matrix, FFmpeg's ``AV_FRAME_DATA_DISPLAYMATRIX``) how to show them: a portrait
clip is stored landscape with "rotate 90 degrees clockwise". Every zelda decoder applies
it the way the ``ffmpeg`` command does by default (its ``autorotate``), through
:class:`zelda_core.api.VideoReader`: a decoder only reports the matrix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import numpy as np


class Orientation(NamedTuple):
    """What turns stored frames into shown ones, applied in this order: ``transpose``
    (swap rows and columns), then ``hflip`` (mirror left-right), then ``vflip``
    (upside down). Every turn by a multiple of 90 degrees, mirrored or not, is one of
    these eight."""

    transpose: bool = False
    hflip: bool = False
    vflip: bool = False


UPRIGHT = Orientation()


def display_rotation(matrix: Sequence[int] | None) -> float:
    """Degrees the matrix turns frames clockwise to show them, in [0, 360) (0 for None):
    the angle ``ffmpeg`` rotates by (ffprobe prints its negative, counter-clockwise)."""
    if matrix is None or len(matrix) != 9:
        return 0.0
    s0, s1 = math.hypot(matrix[0], matrix[3]), math.hypot(matrix[1], matrix[4])
    if s0 == 0 or s1 == 0:
        return 0.0
    theta = float(round(math.degrees(math.atan2(matrix[1] / s1, matrix[0] / s0))))
    return theta - 360 * math.floor(theta / 360 + 0.9 / 360)


def display_orientation(matrix: Sequence[int] | None) -> Orientation:
    """The :class:`Orientation` of a display matrix (9 ints, FFmpeg's layout, 16.16 fixed
    point); :data:`UPRIGHT` for None or an angle that is not a multiple of 90 degrees
    (such frames are returned as stored). The same choices as ffmpeg's autorotate
    (``fftools/ffmpeg_filter.c``), so zelda shows what ``ffmpeg -i`` writes."""
    if matrix is None or len(matrix) != 9:
        return UPRIGHT
    theta = display_rotation(matrix)
    if abs(theta - 90) < 1:
        # transpose=clock, or cclock_flip (a plain transpose) when mirrored
        return Orientation(True, False, False) if matrix[3] > 0 else Orientation(True, True, False)
    if abs(theta - 180) < 1:
        return Orientation(False, matrix[0] < 0, matrix[4] < 0)
    if abs(theta - 270) < 1:
        # transpose=cclock, or clock_flip (transpose, then both flips) when mirrored
        return Orientation(True, True, True) if matrix[3] < 0 else Orientation(True, False, True)
    if abs(theta) < 1:
        return Orientation(False, False, matrix[4] < 0)
    return UPRIGHT


def orient_frames(frames: np.ndarray, orientation: Orientation) -> np.ndarray:
    """Frames (N, H, W, C) as shown: a view (no copy) of ``frames``."""
    if orientation.transpose:
        frames = frames.transpose(0, 2, 1, 3)
    if orientation.hflip:
        frames = frames[:, :, ::-1]
    if orientation.vflip:
        frames = frames[:, ::-1]
    return frames


def describe(matrix: Sequence[int] | None, applied: bool = True) -> str:
    """One phrase for ``zelda probe``: how frames are turned to be shown."""
    if matrix is None:
        return "as stored"
    o = display_orientation(matrix)
    theta = display_rotation(matrix)
    if o == UPRIGHT:
        turn = "as stored" if abs(theta) < 1 else f"display matrix turns {theta:g} degrees (not applied)"
    else:
        mirrored = " (mirrored)" if matrix[0] * matrix[4] - matrix[1] * matrix[3] < 0 else ""
        turn = (f"turned {theta:g} degrees clockwise{mirrored}" if abs(theta) >= 1
                else f"flipped{mirrored}")
    return turn if applied or o == UPRIGHT else f"as stored (autorotate off; file says {turn})"
