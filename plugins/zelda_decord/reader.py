"""decord reader, guarded by the PyAV packet index.

decord can hang or crash in native code on broken files, and trusts its own frame
count. So every file is first validated by ``zelda_decoding.index`` (a PyAV demux of
its packets, cached): unreadable files raise DecodeError before decord sees them.

Files whose packets carry presentation times (and H.264 in AVI, ordered by its POC)
are decoded from in-memory streams holding only the packets a request needs
(``feed.py``): decord reads each in one forward pass, so it neither seeks (it seeks to
wrong frames in AVI and open-GOP files) nor decodes the non-reference pictures nobody
asked for. Other files are read by decord itself: ``get_batch`` on sorted, de-duplicated
indices, or consecutive batches from the first frame where its seeking is wrong; there
a decord frame count that disagrees with the packet index is refused rather than
returning wrong frames.

Frames are decoded at their own size (decord's colours, bit-identical to MMAction2's)
and a requested size is reached with the pyav reader's scaler (``zelda_decoding.rgb``), so
both backends resize alike. (decord's own scaling, in its FFmpeg filter graph, returned
wrong sizes for some requests: a 48x64 video asked for 24x24 came back 24x32.)
Anything decord or a muxer raises leaves the reader as a DecodeError naming the file
(``zelda_decoding.boundary``).

decord 0.6 decodes frames of some small widths (16, 24, 48 and 72 pixels, measured over
widths 16-998) but cannot copy them out ("DECORDArrayCopyFromTo: The size must exactly
match"). For such a file the reader decodes with the pyav reader instead, says so once in
the log, and ``info()["decoded_by"]`` names it.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import av
import numpy as np

from zelda_core.api import DecodeError, VideoReader, install_hint, open_video
from zelda_decoding.boundary import reader_boundary
from zelda_decoding.boundary import short as _short
from zelda_decoding.ffmpeg_log import configure_decord
from zelda_decoding.index import PTS_FORMATS, get_index
from zelda_decoding.rgb import resize_rgb

from .feed import Feeder

SEQ_CHUNK = 16
COPY_BUG = "DECORDArrayCopyFromTo"
"""decord's message when it cannot copy a decoded frame of an unlucky width out."""

log = logging.getLogger(__name__)

try:
    import decord
except ImportError as _e:  # pragma: no cover - depends on the environment
    raise ImportError("the decord decoder needs the 'decord' package: "
                      f"{install_hint('decord', package=__package__)}") from _e

configure_decord()


class DecordReader(VideoReader):
    """Frame-accurate reader on decord (``threads``: decord decoder threads, default 1;
    ``autorotate``: default True, turn frames as the file's display matrix says, see
    ``zelda_core.api.VideoReader``)."""

    @reader_boundary
    def __init__(self, path: str, *, threads: int = 1, autorotate: bool = True) -> None:
        self.path = str(path)
        self.threads = int(threads)
        self.autorotate = bool(autorotate)
        idx = get_index(self.path)  # validates the file with PyAV first
        self._index = idx
        self.num_frames = idx.num_frames
        self.fps = idx.fps
        self.width, self.height = idx.width, idx.height  # as stored; read back: as shown
        self.display_matrix = idx.display_matrix
        self.codec = idx.codec
        pts_container = any(f in idx.format_name.split(",") for f in PTS_FORMATS)
        self.sequential = (
            not pts_container and not all(idx.keyframe) and len(idx.keyframes) > 1
        ) or idx.open_gop
        """decord seeks to wrong frames in AVI/raw files with several keyframes (measured:
        frame 17 came back as frame 2) and in open-GOP files (index 11 came back as frame
        14): such files are read in consecutive batches from frame 0."""
        self._vr: Any = None  # decord's own reader of the file, when it reads the file
        self._feeder: Feeder | None = None
        self.fed = idx.by_pts
        """Decode from in-memory streams of just the needed packets (``feed.py``)."""
        self._pyav: Any = None  # the pyav reader, for files decord cannot copy frames of
        self._why_pyav = ""
        self.frames_decoded: int | None = 0
        """Frames decord decoded: the packets handed to it; None once it read the file
        itself (it does not report what it decoded then)."""
        if not self.fed:
            self._reader()  # fail early, at open

    def _reader(self) -> Any:
        if self._vr is not None:
            return self._vr
        try:
            vr = decord.VideoReader(self.path, ctx=decord.cpu(0), num_threads=max(1, self.threads))
        except Exception as e:  # decord raises DECORDError (a RuntimeError) and friends
            raise DecodeError(self.path, f"decord cannot open it ({_short(e)}); it is {self.codec}, which the pyav decoder may read") from e
        if len(vr) != self.num_frames:
            n = len(vr)
            del vr
            raise DecodeError(
                self.path,
                f"decord counts {n} frames where the packet index has {self.num_frames}; "
                "use the pyav decoder for this file",
            )
        self._vr = vr
        return vr

    def _decode_frames(self, indices: list[int], h: int, w: int) -> np.ndarray:
        """Frames ``indices`` (sorted, unique, in range: the base class's ``get_frames``
        checked them), decoded at their own size, then resized like the pyav reader."""
        try:
            frames = self._decode(np.asarray(indices, dtype=np.int64))
        except (DecodeError, _CopyBug):
            raise
        except Exception as e:  # decord's or a muxer's own error, first line only
            raise DecodeError(self.path, f"{type(e).__name__} while decoding: {_short(e)}") from e
        if (h, w) != (self.stored_height, self.stored_width):
            frames = np.stack([resize_rgb(f, h, w) for f in frames])
        return frames

    def _decode(self, uniq: np.ndarray) -> np.ndarray:
        if self._pyav is None:
            try:
                return self._decode_decord(uniq, self.stored_height, self.stored_width)
            except _CopyBug as why:
                self._why_pyav = str(why) or f"decord cannot copy out frames {self.stored_width} pixels wide"
                log.warning("%s: %s; decoding this file with the pyav reader", self.path,
                            self._why_pyav)
                self._pyav = open_video(self.path, "pyav", autorotate=False)
                self.frames_decoded = None
        return self._pyav.get_frames(uniq.tolist())

    def _decode_decord(self, uniq: np.ndarray, h: int, w: int) -> np.ndarray:
        if self.fed:
            try:
                return self._decode_fed(uniq, h, w)
            except LookupError:
                # the demuxer disagrees with the packet index, or no in-memory container
                # carries the codec (FeedError: VP8): let decord read the file
                self.fed = False
        if self.display_matrix is not None:
            # decord turns such frames itself when it reads the file, wrongly at 90 degrees
            # (a 4-channel or mis-sized array); the in-memory feed carries no matrix
            raise _CopyBug("decord turns the frames of a video with a display matrix wrongly")
        self.frames_decoded = None
        vr = self._reader()
        try:
            if self.sequential:
                frames = self._read_sequential(vr, uniq)
            else:
                frames = vr.get_batch(uniq.tolist()).asnumpy()
        except Exception as e:
            if COPY_BUG in str(e):
                raise _CopyBug from e
            raise DecodeError(self.path, f"decord failed to decode ({_short(e)})") from e
        if frames.shape[1:3] != (h, w):
            raise DecodeError(self.path, f"decord returned frames of {frames.shape[1:3]}, not {(h, w)}")
        return frames

    def _decode_fed(self, uniq: np.ndarray, h: int, w: int) -> np.ndarray:
        """Frames ``uniq`` from in-memory streams of just the packets they need."""
        if self._feeder is None:
            self._feeder = Feeder(self.path, self._index)
        native = (h, w) == (self.stored_height, self.stored_width)
        out = np.empty((len(uniq), h, w, 3), dtype=np.uint8)
        row = {int(i): n for n, i in enumerate(uniq)}
        try:
            runs = self._feeder.runs([int(i) for i in uniq])
        except av.FFmpegError as e:  # a damaged stretch of the file
            raise DecodeError(self.path, f"reading its packets failed ({_short(e)})") from e
        for run in runs:
            try:
                vr = decord.VideoReader(
                    io.BytesIO(run.data),
                    ctx=decord.cpu(0),
                    width=-1 if native else w,
                    height=-1 if native else h,
                    num_threads=max(1, self.threads),
                )
            except Exception as e:
                raise DecodeError(self.path, f"decord cannot open it ({_short(e)}); it is {self.codec}, which the pyav decoder may read") from e
            try:
                if len(vr) != run.packets:
                    raise DecodeError(
                        self.path,
                        f"decord counts {len(vr)} frames in a stream of {run.packets} packets",
                    )
                frames = vr.get_batch(run.ranks).asnumpy()
            except DecodeError:
                raise
            except Exception as e:
                if COPY_BUG in str(e):
                    raise _CopyBug from e
                raise DecodeError(self.path, f"decord failed to decode ({_short(e)})") from e
            finally:
                del vr
            if frames.shape[1:3] != (h, w):
                raise DecodeError(self.path, f"decord returned frames of {frames.shape[1:3]}, not {(h, w)}")
            for i, frame in zip(run.frames, frames):
                out[row[i]] = frame
            if self.frames_decoded is not None:
                self.frames_decoded += run.packets
        return out

    def _read_sequential(self, vr: Any, uniq: np.ndarray) -> np.ndarray:
        """Frames ``uniq`` (sorted) by reading from frame 0 in consecutive batches."""
        vr.seek(0)
        keep = []
        for start in range(0, int(uniq[-1]) + 1, SEQ_CHUNK):
            stop = min(start + SEQ_CHUNK, int(uniq[-1]) + 1)
            batch = vr.get_batch(list(range(start, stop))).asnumpy()
            sel = uniq[(uniq >= start) & (uniq < stop)] - start
            if sel.size:
                keep.append(batch[sel])
        return np.concatenate(keep)

    def info(self) -> dict[str, Any]:
        """Metadata for ``zelda probe`` (from the packet index)."""
        d = super().info()
        d.update(self._index.probe_info())
        d["decoder"] = "decord"
        if self._pyav is not None:
            d["decoded_by"] = f"pyav ({self._why_pyav})"
        return d

    def _release(self) -> None:
        """Drop decord's readers (decord closes the file when a reader is freed)."""
        self._vr = None
        if self._pyav is not None:
            self._pyav.close()
            self._pyav = None
        if self._feeder is not None:
            self._feeder.close()
            self._feeder = None


class _CopyBug(Exception):
    """decord cannot return this file's frames (its copy bug for a few widths, or a
    display matrix it applies wrongly): the pyav reader decodes the file instead."""
