"""The reader interface every decoder plugin implements; ``VideoOpener`` and ``open_video``.

A reader gives frame-accurate random access: index i is the i-th frame of a full
sequential decode, whatever the container header claims.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is light, but keep the CLI start-up free of it
    import numpy as np

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


class VideoReader:
    """Base class of decoder readers. Subclasses fill the metadata and ``_read``."""

    path: str
    num_frames: int
    fps: float
    width: int
    height: int
    codec: str = ""

    @property
    def duration(self) -> float:
        """Seconds, from the true frame count and the average rate."""
        return self.num_frames / self.fps if self.fps else math.nan

    def get_frames(self, indices: Sequence[int], *, size: Size = None) -> np.ndarray:
        """RGB uint8 frames (N, H, W, 3) in the order asked, duplicates allowed."""
        raise NotImplementedError

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
        }

    def close(self) -> None:
        """Release the file and decoder."""

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
        from .api import DEFAULT_DECODER

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

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_factory": None}  # factories may not pickle; names do

    def __repr__(self) -> str:
        return f"VideoOpener({self.spec!r})"
