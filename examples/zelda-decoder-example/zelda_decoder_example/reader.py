"""A frame-accurate decoder on OpenCV, built on ``zelda_core.api.VideoReader``.

The base class checks indices, keeps the closed state, orders and duplicates frames and
resolves ``size``; this reader implements the one method left, ``_decode_frames``, for
sorted unique indices. OpenCV's seeking (``CAP_PROP_POS_FRAMES``) is not frame-accurate on
files with B-frames, so the reader decodes sequentially from the start: simple and exact,
slower than the bundled pyav decoder for late frames of long videos.

Rotated videos (a display matrix, as phones write): OpenCV's own autorotation is switched
off (it turns but never mirrors), frames are read as stored, and the reader sets
``display_matrix`` from ``zelda_decoding`` (the decoder library zelda-video ships): the base
class then turns them as ffmpeg shows them, before any resize.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from zelda_core.api import DecodeError, VideoReader
from zelda_decoding.index import open_container, read_display_matrix, video_stream


class OpenCVReader(VideoReader):
    """Frame-accurate reader on ``cv2.VideoCapture``.

    ``interpolation``: OpenCV's resize filter name (``"area"``, ``"linear"``, ``"cubic"``)."""

    def __init__(self, path: str, *, interpolation: str = "area") -> None:
        flags = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}
        if interpolation not in flags:
            raise ValueError(f"interpolation must be one of {sorted(flags)}, got {interpolation!r}")
        self.path, self._flag = str(path), flags[interpolation]
        if not Path(self.path).is_file():
            raise DecodeError(self.path, "no such file")
        cap = self._open()
        try:
            self.fps = float(cap.get(cv2.CAP_PROP_FPS)) or 0.0
            fourcc = int(cap.get(cv2.CAP_PROP_FOURCC))
            self.codec = "".join(chr((fourcc >> 8 * i) & 0xFF) for i in range(4)).strip("\x00 ")
            # the header's frame count can be wrong: count the frames that really decode
            count, shape = 0, None
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                count, shape = count + 1, frame.shape
        finally:
            cap.release()
        if count == 0 or shape is None:
            raise DecodeError(self.path, "no decodable video frames")
        self.num_frames, (self.height, self.width) = count, shape[:2]  # as stored
        with open_container(self.path) as container:
            stream_index = video_stream(container, self.path).index
        self.display_matrix = read_display_matrix(self.path, stream_index)

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(self.path)
        if not cap.isOpened():
            raise DecodeError(self.path, "OpenCV cannot open it")
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)  # frames as stored: the base class turns them
        return cap

    def _decode_frames(self, indices: list[int], height: int, width: int) -> np.ndarray:
        out = np.empty((len(indices), height, width, 3), np.uint8)
        cap = self._open()
        try:
            n, position = 0, 0
            for target in indices:
                while position < target:  # grab() skips the colour conversion
                    if not cap.grab():
                        raise DecodeError(self.path, f"frame {position} did not decode")
                    position += 1
                ok, bgr = cap.read()
                if not ok:
                    raise DecodeError(self.path, f"frame {target} did not decode")
                position += 1
                if (height, width) != bgr.shape[:2]:
                    bgr = cv2.resize(bgr, (width, height), interpolation=self._flag)
                cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=out[n])
                n += 1
        finally:
            cap.release()
        return out
