"""PyAV (FFmpeg) reader: frame-accurate, seeks only forward, skips unneeded frames.

How a ``get_frames`` call decodes, on files whose packets carry presentation times
(MP4/MOV, MKV/WebM, FLV, MPEG-TS; see ``zelda_decoding.index``):

1. the requested indices are de-duplicated and sorted by decode position;
2. for the next needed frame, the decoder starts at the keyframe its GOP needs, but
   only when that keyframe lies beyond what has already been fed to the decoder
   (so no GOP is decoded twice in one call); short gaps are crossed by reading
   packets without decoding them, long ones by a container seek;
3. each packet is decoded with ``skip_frame="NONREF"`` unless its frame was asked
   for: a non-reference frame that nobody asked for never affects another frame, so
   FFmpeg does not decode it at all and the returned frames stay bit-identical to a
   full sequential decode;
4. wanted frames are converted to RGB at their own size, then scaled with swscale
   (``zelda_decoding.rgb``: the same colours as an unscaled decode, no fused-path bias).

Files whose every packet is a keyframe (``zelda data prepare`` copies) decode one packet
per frame (``zelda_pyav.intra``); in MP4/MOV those packets are read at their file offsets
and the container is not even opened once the index is cached.

Other files (AVI, raw streams) are decoded sequentially from the first packet and
frames are numbered by counting, which is exact for any decoder output order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import av
import numpy as np

from zelda_core.api import DecodeError, VideoReader
from zelda_decoding.boundary import reader_boundary
from zelda_decoding.cursor import IndexMismatch, PacketCursor
from zelda_decoding.ffmpeg_log import configure_pyav
from zelda_decoding.index import PacketIndex, cached_index, get_index, open_container, video_stream
from zelda_decoding.rgb import check_interpolation, frame_to_rgb, resize_rgb
from zelda_pyav.intra import (
    DirectPackets,
    can_read_direct,
    decode_direct,
    decode_keyframes,
    is_all_keyframes,
)

configure_pyav()


class PyAVReader(VideoReader):
    """Frame-accurate reader on PyAV.

    Options: ``threads`` (decoder threads, default 1: DataLoader workers provide the
    parallelism), ``skip_nonref`` (default True: skip non-reference frames nobody asked
    for), ``interpolation`` (swscale filter for resizing, default ``"BILINEAR"``: like
    OpenCV's, see ``zelda_decoding.rgb``), ``autorotate`` (default True: turn frames as
    the file's display matrix says, like ``ffmpeg``; see ``zelda_core.api.VideoReader``).
    """

    @reader_boundary
    def __init__(
        self,
        path: str,
        *,
        threads: int = 1,
        skip_nonref: bool = True,
        interpolation: str = "BILINEAR",
        autorotate: bool = True,
    ) -> None:
        self.path = str(path)
        self.autorotate = bool(autorotate)
        self.interpolation = check_interpolation(interpolation)
        self.skip_nonref = bool(skip_nonref)
        self.threads = int(threads)
        self._container: Any = None
        self._direct: DirectPackets | None = None
        idx = cached_index(self.path)
        if idx is not None and can_read_direct(idx):  # a prepared copy: no container at all
            self._index = idx
            self._direct = DirectPackets(self.path, idx, self.threads)
        else:
            self._open()
            idx = self._index
            if can_read_direct(idx):
                try:
                    self._direct = DirectPackets(self.path, idx, self.threads)
                except BaseException:
                    self._container.close()
                    raise
        self.num_frames = idx.num_frames
        self.fps = idx.fps
        self.width, self.height = idx.width, idx.height  # as stored; read back: as shown
        self.display_matrix = idx.display_matrix
        self.codec = idx.codec
        self._fed: int | None = None  # decoder fed continuously up to this position
        self._start = 0  # ... from this keyframe position
        self._seq_next = 0  # sequential files: index of the next frame the decoder outputs
        self.frames_decoded = 0
        """Frames the decoder produced so far (for ``zelda bench decode``)."""

    def _open(self) -> None:
        """Open the container (and build or load the index on first use)."""
        self._container = open_container(self.path)
        try:
            self._index = get_index(self.path, self._container)
            self._stream = video_stream(self._container, self.path)
            self._use_decoder(self._stream.codec_context)
        except BaseException:
            self._container.close()
            raise
        self._cursor = PacketCursor(self._container, self._stream, self._index)

    def _use_decoder(self, cc: Any) -> None:
        """Make ``cc`` (a container stream's decoder) the reader's, with its thread setting."""
        cc.thread_count = max(1, self.threads)
        if self.threads > 1:
            cc.thread_type = "AUTO"
        self._cc = cc

    # -- public -----------------------------------------------------------------------

    def _decode_frames(self, uniq: list[int], h: int, w: int) -> np.ndarray:
        """Frames ``uniq`` (sorted, unique, in range: the base class's ``get_frames``
        checked them) at (h, w); DecodeError when the file turns out to be undecodable."""
        convert = self._converter(h, w)
        try:
            if self._direct is not None:  # an all-keyframe MP4: packets read at their offsets
                got, decoded = decode_direct(self._direct, uniq, convert)
                self.frames_decoded += decoded
                if len(got) < len(uniq) and self._container is None:
                    self._open()  # the general path decodes what did not come out
            elif is_all_keyframes(self._index):  # one packet per frame, through the demuxer
                got, decoded = decode_keyframes(self._cursor, self._cc, uniq, convert)
                self.frames_decoded += decoded
                self._fed = None  # the general path restarts from a keyframe
            elif self._index.by_pts:
                try:
                    got = self._decode_by_pts(uniq, h, w)
                except _IndexMismatch:
                    self._reset()
                    got = {}
            else:
                got = self._decode_sequential(uniq, h, w)
        except av.FFmpegError as e:
            self._reset()
            raise DecodeError(self.path, f"decoding failed ({e})") from e
        missing = [i for i in uniq if i not in got]
        if missing and self._index.by_pts:
            # a decoder that drops or mislabels frames: count a plain decode instead
            self._reset()
            try:
                got.update(self._decode_sequential(missing, h, w))
            except av.FFmpegError as e:
                raise DecodeError(self.path, f"decoding failed ({e})") from e
            finally:
                self._reset()  # the next call starts from a keyframe again
            missing = [i for i in uniq if i not in got]
        if missing:
            raise DecodeError(self.path, f"frames {missing[:5]} could not be decoded")
        out = np.empty((len(uniq), h, w, 3), dtype=np.uint8)
        for n, i in enumerate(uniq):
            out[n] = got[i]
        return out

    @property
    def index(self) -> PacketIndex:
        """The packet index this reader decodes by."""
        return self._index

    def info(self) -> dict[str, Any]:
        """Metadata for ``zelda probe``, with the keyframe interval and container format."""
        d = super().info()
        d.update(self._index.probe_info())
        d["seekable"] = self._index.by_pts
        d["decoder"] = "pyav"
        return d

    def _release(self) -> None:
        """Close the container and free the decoder (once, from ``close``)."""
        if self._direct is not None:
            self._direct.close()
        if self._container is not None:
            self._cursor.reset()
            self._container.close()

    # -- decoding ---------------------------------------------------------------------

    def _resize_shown(self, frames: np.ndarray, height: int, width: int) -> np.ndarray:
        """Turned frames resized with this reader's ``interpolation``."""
        if self.interpolation == "BILINEAR":
            return super()._resize_shown(frames, height, width)
        return np.stack([resize_rgb(f, height, width, self.interpolation) for f in frames])

    def _convert(self, frame: Any, h: int, w: int) -> np.ndarray:
        """RGB of ``frame`` at (h, w)."""
        return frame_to_rgb(frame, h, w, self.interpolation)

    def _converter(self, h: int, w: int) -> Callable[[Any], np.ndarray]:
        """``frame -> RGB at (h, w)`` for the all-keyframe paths."""
        return lambda frame: frame_to_rgb(frame, h, w, self.interpolation)

    def _reset(self) -> None:
        """Forget decoder and demuxer state; the next decode seeks."""
        if self._container is not None:
            self._cursor.reset()
        self._fed = None
        self._start = 0
        self._seq_next = 0

    def _rewind(self) -> None:
        """Restart demuxing and decoding at the first packet (reopening the file)."""
        self._container.close()
        self._container = open_container(self.path)
        self._stream = self._container.streams.video[0]
        self._use_decoder(self._stream.codec_context)
        self._cursor.restart(self._container, self._stream)
        self._fed = None
        self._seq_next = 0

    def _next_packet(self) -> Any:
        return self._cursor.next()

    def _restart_decoder(self) -> None:
        self._cc.flush_buffers()
        self._fed = None

    def _drain(self, collect: Any) -> None:
        """Flush the decoder's delayed frames into ``collect``; it needs a keyframe next."""
        if self._fed is None:
            return
        for frame in self._cc.decode(None):
            collect(frame)
        self._restart_decoder()

    def _goto(self, pos: int) -> None:
        """Position the demuxer so the next packet is the one at decode position ``pos``."""
        try:
            self._cursor.goto(pos)
        except IndexMismatch as e:  # the packet index does not match what the demuxer yields
            raise _IndexMismatch(str(e)) from None
        except LookupError as e:
            raise DecodeError(self.path, str(e)) from None

    def _decode_by_pts(self, uniq: list[int], h: int, w: int) -> dict[int, np.ndarray]:
        idx = self._index
        start_of = {idx.decode_pos(i): idx.start_key(idx.decode_pos(i)) for i in uniq}
        # by start keyframe, then decode position: an open-GOP leading picture (which
        # needs the previous keyframe) is reached in the same pass as the GOP before it
        todo = sorted(start_of, key=lambda p: (start_of[p], p))
        need = set(start_of)
        index_of_pos = {idx.decode_pos(i): i for i in uniq}
        got: dict[int, np.ndarray] = {}
        cc = self._cc

        def collect(frame: Any) -> None:
            self.frames_decoded += 1
            pos = idx.pos_of_pts(frame.pts)
            i = index_of_pos.get(pos)  # type: ignore[arg-type]
            # only a frame whose required keyframe this decode started from is exact
            if i is not None and i not in got and self._start <= start_of[pos]:
                got[i] = self._convert(frame, h, w)

        skip = "DEFAULT"
        cc.skip_frame = skip
        for target in todo:
            if index_of_pos[target] in got:
                continue
            key = start_of[target]
            if self._fed is None or not (self._start <= key <= self._fed + 1):
                # the target's keyframe lies beyond what was fed (or before this
                # decode's start, when a new call goes backwards): seek
                self._drain(collect)
                self._goto(key)
                self._restart_decoder()
                self._start = key
            while self._fed is None or self._fed < target:
                pkt = self._next_packet()
                if pkt is None:  # the file ended early: the caller falls back
                    self._cursor.next_pos = None
                    break
                p = self._cursor.position(pkt)
                if p is None:
                    continue
                if self.skip_nonref:
                    mode = "DEFAULT" if p in need else "NONREF"
                    if mode != skip:  # setting it costs an enum conversion: only on change
                        cc.skip_frame = skip = mode
                for frame in cc.decode(pkt):
                    collect(frame)
                self._fed = p
                self._cursor.next_pos = p + 1
            if self._cursor.next_pos is None:
                break
        self._drain(collect)
        cc.skip_frame = "DEFAULT"
        return got

    def _decode_sequential(self, uniq: list[int], h: int, w: int) -> dict[int, np.ndarray]:
        """Decode from the first packet, numbering output frames by counting."""
        want = set(uniq)
        last = uniq[-1]
        got: dict[int, np.ndarray] = {}
        if self._cursor.packets is None or self._seq_next > uniq[0] or self._fed is None:
            self._rewind()
        cc = self._cc  # after _rewind, which opens a new container and decoder
        cc.skip_frame = "DEFAULT"

        def collect(frame: Any) -> None:
            self.frames_decoded += 1
            i = self._seq_next
            self._seq_next += 1
            if i in want:
                got[i] = self._convert(frame, h, w)

        while self._seq_next <= last:
            pkt = self._next_packet()
            if pkt is None:
                for frame in cc.decode(None):
                    collect(frame)
                self._reset()
                break
            for frame in cc.decode(pkt):
                collect(frame)
            self._fed = 0
        # keep the decoder positioned: a later call for later frames continues from here
        self._cursor.next_pos = None
        return got


class _IndexMismatch(Exception):
    """The demuxer disagrees with the packet index: fall back to a counted decode."""
