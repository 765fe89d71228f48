"""The per-file packet index every decoder trusts instead of the container header.

Opening a video demuxes all of its video packets once (no decoding) and records, in
decode order, each packet's timestamps and keyframe flag. From that:

- ``num_frames`` is the number of packets a full decode turns into frames (never the
  header's guess: MKV/WebM report 0, some MP4s over-report), leaving out packets the
  demuxer marks discard (before the start of an MP4 edit list: decoded, never shown);
- where the container carries real presentation timestamps (MP4/MOV, Matroska/WebM,
  FLV, MPEG-TS), frame ``i`` is the packet with the i-th smallest pts, and each frame
  knows the keyframe a decode has to start from; readers then seek and skip frames;
- elsewhere (AVI and raw streams, whose "pts" are packet counters) the index is
  *sequential*: frames are numbered by counting a decode from the first packet
  (unless every packet is a keyframe with increasing timestamps: intra-only codecs
  have no reordering, so such files are pts-ordered too; and H.264, whose display
  order the index computes from the slice headers' picture order counts, see
  ``zelda_decoding.h264_order``).

Indexes are cached in-process (LRU keyed by path, mtime and size, at most 512 files
and 200,000 packets) and, unless
``ZELDA_INDEX_CACHE=0``, on disk under ``$ZELDA_CACHE_DIR`` (default
``~/.cache/zelda/index``) so that re-opening a file is cheap across processes too.
The same pass validates the file, so a file that has an index is safe to hand to a
native decoder (decord hangs on some broken files). It also notices a *truncated* file
(cut mid-data: a download or copy that stopped): packets cut short at the end are left
out, so a reader exposes only frames that decode, and ``truncated`` says why the file
looks cut (the demuxer failed before the end, the last packet is short, or the header
lists more frames or a longer duration than the packets hold).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zelda_core.api import DecodeError, path_kind

__all__ = ["INDEX_VERSION", "PTS_FORMATS", "OFFSET_FORMATS", "PacketIndex", "packet_time", "seek_packets", "open_container", "video_stream", "build_index", "cached_index", "get_index", "clear_cache", "read_display_matrix"]

INDEX_VERSION = 7
PTS_FORMATS = ("mov", "mp4", "matroska", "webm", "flv", "mpegts")
"""Container formats whose packet pts are true presentation times."""
OFFSET_FORMATS = ("mov", "mp4")
"""Container formats whose packet positions are where the packet's bytes start (MP4/MOV
sample tables), so a packet can be read straight from the file."""


@dataclass(frozen=True)
class PacketIndex:
    """Video packets of one file in decode order, plus stream metadata."""

    path: str
    format_name: str
    codec: str
    width: int
    height: int
    fps: float
    time_base: tuple[int, int]
    stream_index: int
    pts: tuple[int, ...]
    """Per packet in decode order: pts (or dts where pts is missing)."""
    dts: tuple[int | None, ...]
    keyframe: tuple[bool, ...]
    by_pts: bool
    """True when frame order is pts order (seeking and frame skipping are exact)."""
    header_frames: int = 0
    """What the container header claims (0 when it does not say); never trusted."""
    display: tuple[int, ...] | None = None
    """Per packet: its display rank, where it comes from the bitstream (H.264 POC in
    AVI); None when pts order is display order (or the file is sequential)."""
    discard: tuple[bool, ...] | None = None
    """Per packet: the demuxer marks it discard (before an MP4 edit list's start): it
    is decoded as a reference but yields no frame. None when no packet is."""
    truncated: str | None = None
    """Why the file looks cut short (None when it does not): for ``zelda probe``."""
    offsets: tuple[int, ...] | None = None
    """Per packet: the file offset of its bytes (MP4/MOV only, else None)."""
    sizes: tuple[int, ...] | None = None
    """Per packet: its size in bytes (with ``offsets``)."""
    extradata: str | None = None
    """The stream's codec extradata, hex (with ``offsets``): a decoder needs it to decode
    packets read straight from the file."""
    display_matrix: tuple[int, ...] | None = None
    """The stream's display matrix (9 ints, FFmpeg's layout) when the file has one (a
    rotated phone video): readers report it and ``zelda_core.api.VideoReader`` turns
    frames as it says."""
    _order: list[int] = field(default_factory=list, repr=False, compare=False)
    _keys: list[int] = field(default_factory=list, repr=False, compare=False)
    _pos_of_pts: dict[int, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.pts)
        shown = [d for d in range(n) if not self.discard[d]] if self.discard else list(range(n))
        if self.display is not None:
            order = sorted(shown, key=self.display.__getitem__)
        elif self.by_pts:
            order = sorted(shown, key=self.pts.__getitem__)
        else:
            order = shown
        self._order.extend(order)
        self._keys.extend(d for d in range(n) if self.keyframe[d])
        self._pos_of_pts.update((p, d) for d, p in enumerate(self.pts))

    @property
    def num_frames(self) -> int:
        """Frames a full decode yields (one per non-empty, non-discarded packet)."""
        return len(self._order)

    @property
    def keyframes(self) -> list[int]:
        """Decode positions of the keyframes."""
        return list(self._keys)

    def decode_pos(self, index: int) -> int:
        """Decode position (packet number) of frame ``index``.

        Exact for pts-ordered files; for sequential files it is the frame index itself,
        which is only an estimate of where the frame's packet lies.
        """
        return self._order[index]

    def pos_of_pts(self, pts: int | None) -> int | None:
        """Decode position of the packet with this pts, or None."""
        return None if pts is None else self._pos_of_pts.get(pts)

    def start_key(self, pos: int) -> int:
        """Decode position of the keyframe a decode must start at to output ``pos``.

        The last keyframe at or before ``pos`` whose pts is not after the frame's pts
        (so open-GOP leading pictures start from the previous keyframe). 0 when
        the file is sequential or no keyframe qualifies.
        """
        if not self.by_pts:
            return 0
        rank = self.display if self.display is not None else self.pts
        k = bisect.bisect_right(self._keys, pos) - 1
        while k >= 0 and rank[self._keys[k]] > rank[pos]:
            k -= 1
        return self._keys[k] if k >= 0 else 0

    @property
    def open_gop(self) -> bool:
        """Some picture decoded after a keyframe (other than the first) is shown before
        it: decoding it needs the previous GOP (open GOPs)."""
        if self.display is not None or not self.by_pts:
            return False
        keys = self._keys
        for n, k in enumerate(keys[1:], 1):
            end = keys[n + 1] if n + 1 < len(keys) else len(self.pts)
            if any(self.pts[d] < self.pts[k] for d in range(k + 1, end)):
                return True
        return False

    @property
    def keyframe_interval(self) -> float:
        """Mean number of frames between keyframes."""
        return self.num_frames / max(1, len(self._keys))

    def probe_info(self) -> dict[str, Any]:
        """What ``zelda probe`` adds to a reader's metadata from the index."""
        return {
            "keyframe_interval": round(self.keyframe_interval, 2),
            "keyframes": len(self.keyframes),
            "format": self.format_name,
            "header_frames": self.header_frames,
            **({"truncated": self.truncated} if self.truncated else {}),
        }

    def seek_timestamp(self, pos: int) -> int:
        """The timestamp to hand ``container.seek`` to land at or before packet ``pos``."""
        dts = self.dts[pos]
        return min(self.pts[pos], dts) if dts is not None else self.pts[pos]

    def to_json(self) -> dict[str, Any]:
        """A JSON-serializable form (for the on-disk cache)."""
        return {
            "version": INDEX_VERSION,
            "path": self.path,
            "format_name": self.format_name,
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "time_base": list(self.time_base),
            "stream_index": self.stream_index,
            "pts": list(self.pts),
            "dts": list(self.dts),
            "keyframe": [int(k) for k in self.keyframe],
            "by_pts": self.by_pts,
            "header_frames": self.header_frames,
            "display": None if self.display is None else list(self.display),
            "discard": None if self.discard is None else [int(x) for x in self.discard],
            "truncated": self.truncated,
            "offsets": None if self.offsets is None else list(self.offsets),
            "sizes": None if self.sizes is None else list(self.sizes),
            "extradata": self.extradata,
            "display_matrix": None if self.display_matrix is None else list(self.display_matrix),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PacketIndex:
        """Inverse of ``to_json``."""
        return cls(
            path=d["path"],
            format_name=d["format_name"],
            codec=d["codec"],
            width=int(d["width"]),
            height=int(d["height"]),
            fps=float(d["fps"]),
            time_base=(int(d["time_base"][0]), int(d["time_base"][1])),
            stream_index=int(d["stream_index"]),
            pts=tuple(d["pts"]),
            dts=tuple(d["dts"]),
            keyframe=tuple(bool(k) for k in d["keyframe"]),
            by_pts=bool(d["by_pts"]),
            header_frames=int(d.get("header_frames", 0)),
            display=None if d.get("display") is None else tuple(d["display"]),
            discard=None if d.get("discard") is None else tuple(bool(x) for x in d["discard"]),
            truncated=d.get("truncated"),
            offsets=None if d.get("offsets") is None else tuple(d["offsets"]),
            sizes=None if d.get("sizes") is None else tuple(d["sizes"]),
            extradata=d.get("extradata"),
            display_matrix=(None if d.get("display_matrix") is None
                            else tuple(int(v) for v in d["display_matrix"])),
        )


def packet_time(pkt: Any) -> int | None:
    """A demuxed packet's timestamp as the index keys it: pts, or dts where pts is missing."""
    if pkt is None:
        return None
    return pkt.pts if pkt.pts is not None else pkt.dts


def seek_packets(container: Any, stream: Any, index: PacketIndex, pos: int) -> tuple[Iterator[Any], Any]:
    """Seek ``stream`` so that demuxing resumes at or before packet ``pos``.

    Returns the packet iterator and its first non-empty packet. A seek that lands beyond
    ``pos`` is retried from the start of the file; LookupError when that fails too.
    """
    for target in (pos, 0):
        container.seek(index.seek_timestamp(target), stream=stream, backward=True, any_frame=False)
        packets = container.demux(stream)
        first = next((pkt for pkt in packets if pkt.size), None)
        p = index.pos_of_pts(packet_time(first))
        if first is not None and p is not None and p <= pos:
            return packets, first
    raise LookupError(f"cannot seek to packet {pos}")


def open_container(path: str) -> Any:
    """``av.open`` for reading, turning every failure into DecodeError."""
    import av

    p = Path(path)
    kind = path_kind(p)
    if kind.startswith("missing"):
        raise DecodeError(path, "no such file")
    if kind != "a regular file":  # a FIFO would block, a device never end
        raise DecodeError(path, f"is {kind}, not a video file")
    if p.stat().st_size == 0:
        raise DecodeError(path, "empty file")
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except av.FFmpegError as e:
        raise DecodeError(path, f"not a readable video container ({_ffmpeg_reason(e)})") from e
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DecodeError(path, f"cannot open ({e})") from e


def video_stream(container: Any, path: str) -> Any:
    """The first video stream, checked to have a decoder; DecodeError otherwise."""
    import av

    streams = list(container.streams.video)
    if not streams:
        raise DecodeError(path, "no video stream")
    stream = streams[0]
    cc = stream.codec_context
    name = getattr(cc, "name", None) if cc is not None else None
    if not name or name == "none":
        raise DecodeError(path, "unsupported codec (FFmpeg has no decoder for this video stream)")
    try:
        codec = av.Codec(name, "r")
    except (av.FFmpegError, ValueError) as e:
        raise DecodeError(path, f"unsupported codec {name!r}") from e
    if codec.type != "video":
        raise DecodeError(path, f"unsupported codec {name!r}")
    if not cc.width or not cc.height:
        raise DecodeError(path, f"video stream has no frame size (codec {name})")
    return stream


def _ffmpeg_reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


def _looks_cut(container: Any, stream: Any, packets: int, end: int) -> str | None:
    """Why the header promises more than the packets hold, or None.

    A header frame count above the packets (MP4/MOV sample tables, AVI headers), or a
    header duration more than two frames past the last packet's end (Matroska/WebM,
    whose packets the demuxer stops at the cut without an error).
    """
    header = int(stream.frames or 0)
    if header > packets and any(f in container.format.name for f in ("mov", "mp4", "avi")):
        return f"the header lists {header} frames, the file holds {packets}"
    rate = stream.average_rate or stream.guessed_rate
    tb = stream.time_base
    if not rate or not tb:
        return None
    frame = 1 / float(rate)
    if stream.duration:
        promised = float(stream.duration * tb)
    elif container.duration and len(container.streams) == 1:
        promised = container.duration / 1_000_000
    else:
        return None
    start = float((stream.start_time or 0) * tb)
    held = float(end * tb) - start
    if promised - held > 2 * frame + 0.01:
        return f"the header says {promised:.2f} s, the packets end at {held:.2f} s"
    return None


def build_index(path: str, container: Any = None) -> PacketIndex:
    """Demux every video packet of ``path`` (no decoding) and return its index.

    ``container``: an already open PyAV container to use (it is left positioned at the
    end; the caller seeks). Raises DecodeError for anything that is not a readable video.
    """
    import av

    own = container is None
    if own:
        container = open_container(path)
    try:
        stream = video_stream(container, path)
        pts: list[int] = []
        dts: list[int | None] = []
        key: list[bool] = []
        discard: list[bool] = []
        ends: list[int] = []  # per packet: pts + duration (the end of its frame)
        offsets: list[int | None] = []
        sizes: list[int] = []
        short = 0  # trailing packets the demuxer flagged corrupt (cut short by the file's end)
        truncated = None
        file_size = os.path.getsize(path)
        fmt = container.format.name
        pts_format = any(f in fmt.split(",") for f in PTS_FORMATS)
        h264 = None
        if not pts_format and stream.codec_context.name == "h264":
            from .h264_order import H264Order

            try:
                h264 = H264Order(stream.codec_context.extradata)
            except (ValueError, IndexError, KeyError):
                h264 = None
        try:
            for pkt in container.demux(stream):
                if pkt.size == 0:  # the flush packet at the end
                    continue
                t = packet_time(pkt)
                pts.append(t if t is not None else len(pts))
                dts.append(pkt.dts)
                key.append(bool(pkt.is_keyframe))
                discard.append(bool(pkt.is_discard))
                ends.append(pts[-1] + (pkt.duration or 0))
                offsets.append(pkt.pos)
                sizes.append(pkt.size)
                cut = pkt.is_corrupt or (pkt.pos is not None and pkt.pos + pkt.size > file_size)
                short = short + 1 if cut else 0
                if h264 is not None:
                    try:  # headers come first; a slice header needs a few bytes
                        h264.add(memoryview(pkt)[:4096].tobytes())
                    except (ValueError, IndexError, KeyError):
                        h264 = None
        except av.FFmpegError as e:
            if not pts:
                raise DecodeError(path, f"no readable video packet ({_ffmpeg_reason(e)})") from e
            # a damaged tail: keep the packets read so far
            truncated = f"demuxing stopped after {len(pts)} packets ({_ffmpeg_reason(e)})"
        if short and short < len(pts):  # partial packets at the end: they do not decode
            del pts[-short:], dts[-short:], key[-short:], discard[-short:], ends[-short:]
            del offsets[-short:], sizes[-short:]
            truncated = truncated or f"its last {short} packet(s) are cut short"
        if h264 is not None and short:
            del h264.pics[len(pts):]  # one picture per packet kept
        if truncated is None and pts:
            truncated = _looks_cut(container, stream, len(pts), max(ends))
        if not pts:
            raise DecodeError(path, "the video stream has no packets")
        if all(discard):
            raise DecodeError(path, "every video packet is marked discard (empty edit list)")
        unique = len(set(pts)) == len(pts)
        by_pts = pts_format and unique
        display = None
        if h264 is not None and unique and len(h264.pics) == len(pts):
            try:
                ranks, idr = h264.result()
            except ValueError:
                pass
            else:  # display order from POC; decoding may start only at IDR pictures
                display, key, by_pts = tuple(ranks), list(idr), True
        if not by_pts and all(key) and all(a < b for a, b in zip(pts, pts[1:])):
            by_pts = True  # intra-only (MJPEG in AVI...): decode order is display order
        if not any(key):
            key[0] = True  # some muxers flag nothing; decoding must start at the first packet
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        tb = stream.time_base
        direct = (any(f in fmt.split(",") for f in OFFSET_FORMATS)
                  and all(o is not None and o >= 0 for o in offsets))
        extradata = stream.codec_context.extradata
        return PacketIndex(
            path=str(path),
            format_name=fmt,
            codec=stream.codec_context.name,
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            fps=float(rate) if rate else 0.0,
            time_base=(tb.numerator, tb.denominator) if tb else (1, 1),
            stream_index=stream.index,
            pts=tuple(pts),
            dts=tuple(dts),
            keyframe=tuple(key),
            by_pts=by_pts,
            header_frames=int(stream.frames or 0),
            display=display,
            discard=tuple(discard) if any(discard) else None,
            truncated=truncated,
            offsets=tuple(offsets) if direct else None,  # type: ignore[arg-type]
            sizes=tuple(sizes) if direct else None,
            extradata=extradata.hex() if direct and extradata else None,
            display_matrix=read_display_matrix(path, stream.index),
        )
    finally:
        if own:
            container.close()


def read_display_matrix(path: str, stream_index: int) -> tuple[int, ...] | None:
    """The display matrix of stream ``stream_index``, or None (no matrix, or the identity).

    PyAV shows the stream's matrix only on decoded frames, so this decodes the first frame
    in a container of its own (the caller's decoder is left untouched); once per file, as
    the index is cached."""
    import struct

    import av

    try:
        with av.open(path) as container:
            stream = container.streams[stream_index]
            for n, pkt in enumerate(container.demux(stream)):
                for frame in stream.codec_context.decode(pkt if pkt.size else None):
                    for side in frame.side_data:
                        if side.type == av.sidedata.sidedata.Type.DISPLAYMATRIX:
                            m = struct.unpack("=9i", bytes(side))
                            return None if m == _IDENTITY else m
                    return None
                if n >= 64:
                    return None
    except (av.FFmpegError, ValueError, struct.error):
        return None
    return None


_IDENTITY = (65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30)

_LRU: OrderedDict[tuple[str, int, int], PacketIndex] = OrderedDict()
_LRU_SIZE = 512
_LRU_PACKETS = 200_000
"""Budget of the in-process cache in packets (~250 bytes each): 512 Kinetics clips, or
one hour-long video; the disk cache keeps the rest cheap to reload."""
_LOCK = threading.Lock()


def _cache_dir() -> Path | None:
    if os.environ.get("ZELDA_INDEX_CACHE", "1") == "0":
        return None
    base = os.environ.get("ZELDA_CACHE_DIR")
    root = Path(base) if base else Path.home() / ".cache" / "zelda"
    return root / "index"


def _disk_path(key: tuple[str, int, int]) -> Path | None:
    d = _cache_dir()
    if d is None:
        return None
    h = hashlib.sha1(f"{INDEX_VERSION}|{key[0]}|{key[1]}|{key[2]}".encode()).hexdigest()
    return d / h[:2] / f"{h}.json"


def _cache_key(path: str) -> tuple[str, int, int]:
    try:
        st = os.stat(path)
    except FileNotFoundError as e:
        raise DecodeError(path, "no such file") from e
    except OSError as e:
        kind = path_kind(path)
        raise DecodeError(path, f"is {kind}, not a video file" if kind.startswith("a ")
                          else f"cannot stat ({e.strerror or e})") from e
    return os.path.realpath(path), st.st_mtime_ns, st.st_size


def cached_index(path: str) -> PacketIndex | None:
    """The index of ``path`` from the in-process or disk cache, or None (build it with
    :func:`get_index`). DecodeError when the file is gone."""
    return _cached(_cache_key(path), path)


def _cached(key: tuple[str, int, int], path: str) -> PacketIndex | None:
    with _LOCK:
        idx = _LRU.get(key)
        if idx is not None:
            _LRU.move_to_end(key)
            return idx
    disk = _disk_path(key)
    if disk is None or not disk.is_file():
        return None
    try:
        data = json.loads(disk.read_text())
        if data.get("version") != INDEX_VERSION:
            return None
        idx = PacketIndex.from_json(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return _remember(key, idx, path)


def get_index(path: str, container: Any = None) -> PacketIndex:
    """The cached index of ``path``, building it (and validating the file) on a miss."""
    key = _cache_key(path)
    idx = _cached(key, path)
    if idx is not None:
        return idx
    idx = build_index(path, container)
    disk = _disk_path(key)
    if disk is not None:
        try:
            disk.parent.mkdir(parents=True, exist_ok=True)
            tmp = disk.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(idx.to_json(), separators=(",", ":")))
            os.replace(tmp, disk)
        except OSError:
            pass  # a read-only home is fine: the in-process cache still works
    return _remember(key, idx, path)


def _remember(key: tuple[str, int, int], idx: PacketIndex, path: str) -> PacketIndex:
    """Put ``idx`` (renamed to ``path`` when it came from another name) in the LRU."""
    if idx.path != str(path):
        idx = PacketIndex.from_json({**idx.to_json(), "path": str(path)})
    with _LOCK:
        _LRU[key] = idx
        total = sum(len(i.pts) for i in _LRU.values())
        while len(_LRU) > 1 and (len(_LRU) > _LRU_SIZE or total > _LRU_PACKETS):
            total -= len(_LRU.popitem(last=False)[1].pts)
    return idx


def clear_cache(disk: bool = False) -> None:
    """Forget in-process indexes (and, with ``disk=True``, the on-disk cache's files)."""
    with _LOCK:
        _LRU.clear()
    if disk and (d := _cache_dir()) is not None and d.is_dir():
        import shutil

        shutil.rmtree(d, ignore_errors=True)
