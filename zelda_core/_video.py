"""The reader interface every decoder plugin implements; ``VideoOpener`` and ``open_video``.

A reader gives frame-accurate random access: index i is the i-th frame of a full
sequential decode, whatever the container header claims.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._orientation import (
    UPRIGHT,
    Orientation,
    describe,
    display_orientation,
    display_rotation,
    orient_frames,
)

if TYPE_CHECKING:  # numpy is light, but keep the CLI start-up free of it
    import numpy as np

DEFAULT_DECODER = "pyav"
"""The decoder a recipe uses when ``data.decoder`` is not set (``zelda_core.api`` exports it)."""

Size = int | Sequence[int] | None
"""``None`` (native), an int (short side, aspect kept) or ``(h, w)`` exact."""


def resolve_size(height: int, width: int, size: Size) -> tuple[int, int]:
    """Output (h, w) for a frame of ``height`` x ``width`` asked at ``size``.

    An int short side rounds like MMAction2's ``Resize(scale=(-1, s))``
    (``mmcv.rescale_size``), so recipes transfer pixel for pixel.
    """
    if size is None:
        return height, width
    if isinstance(size, int):
        scale = size / min(height, width)
        return int(height * scale + 0.5), int(width * scale + 0.5)
    h, w = (int(v) for v in size)
    if h <= 0 and w <= 0:
        raise ValueError(f"size {tuple(size)} has no positive side")
    if h <= 0:  # (-1, w): keep aspect, width fixed
        return int(height * w / width + 0.5), w
    if w <= 0:
        return h, int(width * h / height + 0.5)
    return h, w


def _resize(frames: np.ndarray, h: int, w: int) -> np.ndarray:
    """uint8 frames (N, H, W, 3) to (h, w): the ``resize`` transform's kernel (torch's
    uint8 bilinear, no antialiasing), so a resize at decode equals one after it."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    out = F.interpolate(t, size=(h, w), mode="bilinear", antialias=False, align_corners=False)
    return out.permute(0, 2, 3, 1).contiguous().numpy()


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 200 characters), or its type's
    name: what a DecodeError's reason quotes of a decoding library's error."""
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else "")[:200] or type(exc).__name__


class VideoReader:
    """Base class of decoder readers: a decoder implements ONE method.

    Subclasses set the metadata (``path``, ``num_frames``: frames that really decode,
    ``fps``, ``width``, ``height``, ``codec``) in ``__init__`` and implement
    :meth:`_decode_frames`. The base does the rest of the :class:`zelda_core.api.Decoder`
    contract: index checking (``IndexError``), the closed state (``DecodeError``),
    ordering and duplicates, size resolution, and turning a decoding library's own
    exception into ``DecodeError``. Override :meth:`_release` to free the file.

    Every bundled decoder implements ``_decode_frames`` and ``_release`` only; the checks
    live here, once.

    Rotated videos (phone clips with a display matrix): a subclass sets
    ``display_matrix`` (9 ints, FFmpeg's layout) and ``width``/``height`` to the size of
    the frames as stored, and its ``_decode_frames`` returns frames as stored. Read back,
    ``width`` and ``height`` are the size as shown (``stored_width``/``stored_height``
    keep the other), and ``get_frames`` returns frames as shown, turned like ``ffmpeg``
    turns them (``zelda_core._orientation``); a requested size applies to the shown
    frames and equals turning, then resizing. ``autorotate = False`` returns frames as
    stored.
    """

    path: str
    num_frames: int
    fps: float
    codec: str = ""
    stored_width: int = 0
    stored_height: int = 0
    display_matrix: tuple[int, ...] | None = None
    """The file's display matrix (None: shown as stored)."""
    autorotate: bool = True
    """Apply ``display_matrix`` (ffmpeg's default; False: frames as stored)."""
    _closed: bool = False

    @property
    def orientation(self) -> Orientation:
        """How stored frames turn into shown ones (upright when ``autorotate`` is off)."""
        if not self.autorotate or self.display_matrix is None:
            return UPRIGHT
        return display_orientation(self.display_matrix)

    @property
    def width(self) -> int:
        """Frame width as shown (set: the width as stored)."""
        return self.stored_height if self.orientation.transpose else self.stored_width

    @width.setter
    def width(self, value: int) -> None:
        self.stored_width = int(value)

    @property
    def height(self) -> int:
        """Frame height as shown (set: the height as stored)."""
        return self.stored_width if self.orientation.transpose else self.stored_height

    @height.setter
    def height(self, value: int) -> None:
        self.stored_height = int(value)

    @property
    def duration(self) -> float:
        """Seconds, from the true frame count and the average rate."""
        return self.num_frames / self.fps if self.fps else math.nan

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def get_frames(self, indices: Sequence[int], *, size: Size = None) -> np.ndarray:
        """RGB uint8 frames (N, H, W, 3) in the order asked, duplicates allowed.

        Raises IndexError for an index outside ``[0, num_frames)``, DecodeError when the
        reader is closed or the file turns out to be undecodable."""
        import numpy as np

        from ._errors import DecodeError

        wanted = self._wanted(indices)
        h, w = resolve_size(self.height, self.width, size)
        if wanted.size == 0:
            return np.empty((0, h, w, 3), dtype=np.uint8)
        uniq, inverse = np.unique(wanted, return_inverse=True)
        turn = self.orientation
        if turn != UPRIGHT:  # decode as stored, full size; turn; then resize (exact)
            shown_h, shown_w = h, w
            h, w = self.stored_height, self.stored_width
        try:
            frames = self._decode_frames([int(i) for i in uniq], h, w)
        except DecodeError:
            raise
        except Exception as exc:  # the decoding library's own error: the file is bad
            raise DecodeError(self.path, f"{type(exc).__name__} while decoding: "
                              f"{first_line(exc)}") from exc
        frames = np.asarray(frames)
        if frames.shape != (len(uniq), h, w, 3) or frames.dtype != np.uint8:
            from ._errors import PluginError

            raise PluginError(
                f"{type(self).__name__}._decode_frames returned {frames.dtype} "
                f"{tuple(frames.shape)} for {len(uniq)} frames at {h}x{w}; the contract is "
                f"uint8 ({len(uniq)}, {h}, {w}, 3)")
        if turn != UPRIGHT:
            frames = orient_frames(frames, turn)
            if frames.shape[1:3] != (shown_h, shown_w):
                frames = self._resize_shown(frames, shown_h, shown_w)
        if len(uniq) == len(wanted) and frames.flags.c_contiguous and (
                len(wanted) < 2 or bool((wanted[1:] > wanted[:-1]).all())):
            return frames  # asked sorted and unique: already in order
        return np.ascontiguousarray(frames[inverse.reshape(-1)])

    def _wanted(self, indices: Sequence[int]) -> np.ndarray:
        """``indices`` as int64, checked: DecodeError when closed, IndexError out of range."""
        import numpy as np

        from ._errors import DecodeError

        if self._closed:
            raise DecodeError(self.path, "reader is closed")
        wanted = np.asarray(indices, dtype=np.int64).reshape(-1)
        bad = wanted[(wanted < 0) | (wanted >= self.num_frames)]
        if bad.size:
            raise IndexError(f"frame index {int(bad[0])} out of range for {self.path} "
                             f"({self.num_frames} frames)")
        return wanted

    def get_frames_tensor(self, indices: Sequence[int]) -> Any:
        """The frames of :meth:`get_frames` at their shown size, as a uint8 torch tensor
        (N, H, W, 3) (possibly a view) on the device the decoder decoded on, so that a GPU
        decoder's frames stay on the GPU (the deferred tail, ``zelda_core._deferred``).
        A decoder decoding on a device implements :meth:`_decode_tensor`; rotated videos
        give ``get_frames``'s array."""
        import numpy as np
        import torch

        if self.orientation != UPRIGHT:
            return torch.from_numpy(self.get_frames(indices))
        from ._errors import DecodeError, PluginError

        wanted = self._wanted(indices)
        uniq, inverse = np.unique(wanted, return_inverse=True)
        h, w = self.stored_height, self.stored_width
        try:
            frames = self._decode_tensor([int(i) for i in uniq])
        except DecodeError:
            raise
        except Exception as exc:  # the decoding library's own error: the file is bad
            raise DecodeError(self.path, f"{type(exc).__name__} while decoding: "
                              f"{first_line(exc)}") from exc
        if tuple(frames.shape) != (len(uniq), h, w, 3) or frames.dtype != torch.uint8:
            raise PluginError(
                f"{type(self).__name__}._decode_tensor returned {frames.dtype} "
                f"{tuple(frames.shape)} for {len(uniq)} frames at {h}x{w}; the contract is "
                f"uint8 ({len(uniq)}, {h}, {w}, 3)")
        if len(uniq) == len(wanted) and (len(wanted) < 2 or bool((wanted[1:] > wanted[:-1]).all())):
            return frames
        return frames.index_select(0, torch.from_numpy(inverse.reshape(-1)).to(frames.device))

    def _decode_tensor(self, indices: list[int]) -> Any:
        """uint8 (len(indices), H, W, 3) at the stored size, as a tensor on the device the
        decoder decodes on, for sorted, unique, in-range ``indices`` (default: the
        :meth:`_decode_frames` array)."""
        import torch

        return torch.from_numpy(self._decode_frames(indices, self.stored_height, self.stored_width))

    def _resize_shown(self, frames: np.ndarray, height: int, width: int) -> np.ndarray:
        """Resize turned frames (a rotated video asked at a size): bilinear like the
        ``resize`` transform; a decoder with its own interpolation option overrides it."""
        return _resize(frames, height, width)

    def _decode_frames(self, indices: list[int], height: int, width: int) -> np.ndarray:
        """The one method a decoder implements: RGB uint8 ``(len(indices), height,
        width, 3)`` for ``indices``, which are sorted, unique and in range.

        Resize to ``(height, width)`` when it differs from the native size. Raise
        DecodeError (or let the library's exception through: the base turns it into
        one) when the data cannot be decoded."""
        raise NotImplementedError(f"{type(self).__name__} implements neither "
                                  "_decode_frames nor get_frames")

    def info(self) -> dict[str, Any]:
        """Metadata for ``zelda probe``."""
        return {
            "path": self.path,
            "frames": self.num_frames,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "codec": self.codec,
            "duration": self.duration,
            "rotation": display_rotation(self.display_matrix),
            "orientation": describe(self.display_matrix, self.autorotate),
        }

    def close(self) -> None:
        """Release the file and decoder (idempotent); later reads raise DecodeError."""
        if not self._closed:
            self._closed = True
            self._release()

    def _release(self) -> None:
        """Free the file and decoder (called once, by :meth:`close`)."""

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self.num_frames


def open_video(path: str, decoder: str | None = None, **options: Any) -> VideoReader:
    """Open ``path`` with the decoder plugin named ``decoder``.

    Checks the decoder table on every call: fine for one file (``zelda probe``, tests);
    to open many files, build one :class:`VideoOpener` and call it.
    Raises DecodeError for an unreadable file.
    """
    return VideoOpener({"type": decoder, **options} if decoder else options)(path)


class VideoOpener:
    """``opener(path) -> reader`` for one decoder table ``{type, **options}``.

    The table is checked (known decoder, option names and types) once, here; a call only
    calls the decoder's factory. A dataset builds one and puts it in every sample as
    ``sample["opener"]``. Pickled (to a DataLoader worker) it travels as its table and
    looks the factory up again on its first call there, without checking again.
    ``key``/``file`` locate the table in a recipe for error messages.
    """

    def __init__(self, decoder: dict[str, Any] | str | None = None, *, key: str | None = None,
                 file: str | None = None) -> None:
        from ._errors import RecipeError
        from ._registry import check, get_component, resolve_factory

        spec = {"type": decoder} if isinstance(decoder, str) else dict(decoder or {})
        spec.setdefault("type", DEFAULT_DECODER)
        errors = check("decoders", spec, key=key, file=file, injected=("path",))
        if errors:
            raise errors[0] if len(errors) == 1 else RecipeError(
                "\n".join(f"- {e}" for e in errors), file=file, key=key)
        self.spec = spec
        self.key, self.file = key, file
        self._options = {k: v for k, v in spec.items() if k != "type"}
        self._factory: Any = resolve_factory(get_component("decoders", spec["type"]))

    @property
    def name(self) -> str:
        """The decoder's registered name."""
        return self.spec["type"]

    def __call__(self, path: str) -> VideoReader:
        factory = self._factory
        if factory is None:
            from ._registry import get_component, resolve_factory

            factory = self._factory = resolve_factory(get_component("decoders", self.name))
        try:
            return factory(str(path), **self._options)
        except ValueError as exc:  # an option value the decoder rejects: the recipe's problem
            from ._errors import RecipeError

            raise RecipeError(f"{exc} (type '{self.name}')", file=self.file, key=self.key) from exc
        except Exception as exc:  # anything else is the plugin's; per video it stays skippable
            from ._errors import DecodeError, ZeldaError
            from ._registry import get_component

            if isinstance(exc, ZeldaError):
                raise
            provider = get_component("decoders", self.name).provider
            raise DecodeError(str(path), f"the decoder '{self.name}' of {provider} failed with "
                              f"{type(exc).__name__}: {exc}") from exc

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_factory": None}  # factories may not pickle; names do

    def __repr__(self) -> str:
        return f"VideoOpener({self.spec!r})"
