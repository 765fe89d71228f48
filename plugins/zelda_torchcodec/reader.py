"""torchcodec reader: frames located by zelda's packet index, decoded by torchcodec.

Where each part comes from:

- the frame count, fps, size and codec: zelda's packet index (``zelda_decoding.index``),
  which also validates the file before torchcodec sees it (never the header, never
  torchcodec's own scan);
- which packet is frame i: the index again, handed to torchcodec as its
  ``custom_frame_mappings`` (``mappings.py``), for files whose packets carry presentation
  times (MP4/MOV, MKV/WebM, FLV, MPEG-TS and intra-only AVI). Each returned frame's
  timestamp is checked against the index;
- decoding and RGB conversion: torchcodec (FFmpeg's libraries on the system, or NVDEC
  with ``device = "cuda"``);
- resizing: zelda's ``resize`` kernel (``zelda_decoding.rgb``), as for every backend, so
  a fused decode+resize returns exactly the frames of decoding, then resizing.

Files whose order is not the packets' timestamps (AVI and raw streams: torchcodec 0.13
seeks to wrong frames in them and ran out of frames before the end of an MPEG-4 AVI),
truncated files (torchcodec raises on the cut packet where the index stops before it),
rotated files (torchcodec applies the display matrix itself, without its mirroring, and
cannot be told not to; zelda's base class turns frames for every backend), and
any file where a returned frame's timestamp disagrees with the index, are decoded by the
pyav reader (through ``open_video``), said once in the log and in
``info()["decoded_by"]``. Anything torchcodec raises leaves as a DecodeError naming the
file.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from zelda_core.api import DecodeError, VideoReader, open_video
from zelda_decoding.boundary import reader_boundary, short
from zelda_decoding.index import PacketIndex, get_index
from zelda_decoding.rgb import resize_rgb

from .device import check_device, decode_device
from .library import load
from .mappings import frame_mappings, frame_seconds

VideoDecoder = load()

log = logging.getLogger(__name__)


def torchcodec_locates(idx: PacketIndex) -> bool:
    """Whether torchcodec can find frames by the index's timestamps (pts order is display
    order, as in MP4/MKV/WebM; not AVI's packet counters or H.264 POC order)."""
    return idx.by_pts and idx.display is None


class TorchcodecReader(VideoReader):
    """Frame-accurate reader on torchcodec.

    Options: ``threads`` (FFmpeg decoder threads on CPU, default 1: DataLoader workers
    provide the parallelism), ``device`` (``"cpu"``, default, or ``"cuda"``/``"cuda:N"``:
    decode on that GPU's NVDEC engines; ``get_frames`` resizes there and returns host
    memory, ``get_frames_tensor`` leaves the frames on the GPU for the deferred tail; needs torchcodec's CUDA build and, in DataLoader workers, the ``spawn`` start
    method: a forked worker cannot use CUDA), ``autorotate`` (default True: frames as the
    file's display matrix shows them, see ``zelda_core.api.VideoReader``).
    """

    def __init__(self, path: str, *, threads: int = 1, device: str = "cpu",
                 autorotate: bool = True) -> None:
        self.path = str(path)
        self.threads = int(threads)
        self.autorotate = bool(autorotate)
        # option problems are ValueErrors (the recipe's, for every video), outside the boundary
        self.device = decode_device(check_device(device))
        self._setup()

    @reader_boundary
    def _setup(self) -> None:
        idx = get_index(self.path)  # validates the file, counts its frames
        self._index = idx
        self.num_frames = idx.num_frames
        self.fps = idx.fps
        self.width, self.height = idx.width, idx.height  # as stored; read back: as shown
        self.display_matrix = idx.display_matrix  # the base class turns the frames
        self.codec = idx.codec
        self._decoder: Any = None
        self._pyav: Any = None  # the pyav reader, for files torchcodec cannot locate frames in
        self._why_pyav = ""
        if not torchcodec_locates(idx):
            self._use_pyav("its frames are ordered by counting, not by timestamps")
        elif idx.truncated:
            self._use_pyav("the file is cut short, and torchcodec fails on its cut packet")
        elif idx.display_matrix is not None:
            self._use_pyav("torchcodec turns frames by the display matrix itself, without "
                           "mirroring and with no way to turn that off")
        else:
            self._open()  # fail early, at open
        self.frames_decoded: int | None = None
        """Frames decoded: torchcodec does not say (``zelda bench decode`` shows n/a)."""

    def _open(self) -> None:
        try:
            self._decoder = VideoDecoder(
                self.path, stream_index=self._index.stream_index, dimension_order="NCHW",
                num_ffmpeg_threads=max(1, self.threads), device=self.device,
                custom_frame_mappings=frame_mappings(self._index))
        except (RuntimeError, ValueError) as e:
            raise DecodeError(self.path, f"torchcodec cannot open it ({short(e)})") from e

    def _use_pyav(self, why: str) -> None:
        log.info("%s: %s; decoding this file with the pyav reader", self.path, why)
        self._why_pyav = why
        self._decoder = None
        self._pyav = open_video(self.path, "pyav", autorotate=False)  # the base turns

    def _decode_frames(self, indices: list[int], h: int, w: int) -> np.ndarray:
        """Frames ``indices`` (sorted, unique, in range: the base class checked them)."""
        if self._pyav is None:
            frames = self._decode_torchcodec(indices, h, w)
            if frames is not None:
                return frames
        return self._pyav.get_frames(indices, size=(h, w))

    def _decode_tensor(self, indices: list[int]) -> Any:
        """(N, H, W, 3) uint8 at the stored size, on the decoding device (a permuted view of
        torchcodec's (N, 3, H, W)); the pyav reader's frames for a file it takes over."""
        if self._pyav is None:
            data = self._torchcodec_data(indices)
            if data is not None:
                return data.permute(0, 2, 3, 1)
        import torch

        return torch.from_numpy(self._pyav.get_frames(indices))

    def _torchcodec_data(self, indices: list[int]) -> Any:
        """torchcodec's (N, 3, H, W) uint8 on the decoding device, or None when a frame came
        back with another timestamp than the index's (then this file is decoded by the
        pyav reader from now on)."""
        try:
            batch = self._decoder.get_frames_at(indices)
        except (RuntimeError, ValueError, IndexError) as e:
            raise DecodeError(self.path, f"torchcodec failed to decode ({short(e)})") from e
        got = batch.pts_seconds.tolist()
        want = frame_seconds(self._index, indices)
        tick = self._index.time_base[0] / self._index.time_base[1]
        if any(abs(a - b) > tick / 2 for a, b in zip(got, want)):
            self._use_pyav("torchcodec returned frames at other times than the packet index's")
            return None
        return batch.data  # (N, 3, H, W) uint8, on the decoding device

    def _decode_torchcodec(self, indices: list[int], h: int, w: int) -> np.ndarray | None:
        """The frames on the host, or None (see :meth:`_torchcodec_data`)."""
        data = self._torchcodec_data(indices)
        if data is None:
            return None
        if (h, w) != (self.stored_height, self.stored_width) and data.is_cuda:
            from .device import resize_on_device

            data = resize_on_device(data, h, w)
        frames = data.permute(0, 2, 3, 1).contiguous().cpu().numpy()
        if frames.shape[1:3] != (h, w):
            frames = np.stack([resize_rgb(f, h, w) for f in frames])
        return frames

    @property
    def index(self) -> PacketIndex:
        """The packet index this reader locates frames by."""
        return self._index

    def info(self) -> dict[str, Any]:
        """Metadata for ``zelda probe`` (from the packet index)."""
        d = super().info()
        d.update(self._index.probe_info())
        d["decoder"] = "torchcodec"
        d["device"] = self.device
        if self._pyav is not None:
            d["decoded_by"] = f"pyav ({self._why_pyav})"
        return d

    def _release(self) -> None:
        self._decoder = None
        if self._pyav is not None:
            self._pyav.close()
            self._pyav = None
