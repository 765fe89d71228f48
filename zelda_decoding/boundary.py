"""The reader boundary: nothing but DecodeError (and IndexError for a bad frame index)
leaves a reader, whatever PyAV, decord or a muxer raised inside it.

Both readers' constructors and ``get_frames`` go through :func:`reader_boundary`, so a
codec or container nobody anticipated fails one video with a message naming its file
(``on_error = "skip"`` can skip it) instead of ending the run.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, TypeVar

from zelda_core.api import DecodeError

__all__ = ["FrameIndexError", "short", "reader_boundary"]

F = TypeVar("F", bound=Callable[..., Any])


class FrameIndexError(IndexError):
    """A frame index outside ``[0, num_frames)``: the caller's mistake, passed through."""


def short(e: BaseException) -> str:
    """First line of an exception's message (decord's carry C++ file names and logs)."""
    text = str(e).strip().splitlines()
    line = text[0] if text else ""
    while _SOURCE_PREFIX.match(line):  # decord nests them: "[t] a.cc:292: [t] b.cc:218: ..."
        line = _SOURCE_PREFIX.sub("", line, count=1)
    return (line or type(e).__name__)[:200]


_SOURCE_PREFIX = re.compile(r"^\[[\d:]+\] \S+:\d+: ")
"""decord's "[04:22:50] /src/video/video_reader.cc:151: " before its message."""


def reader_boundary(method: F) -> F:
    """Wrap a reader method: any exception but DecodeError/FrameIndexError becomes a
    DecodeError naming ``self.path``."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (DecodeError, FrameIndexError):
            raise
        except Exception as e:  # noqa: BLE001 - the point of the boundary
            path = getattr(self, "path", None) or (args[0] if args else "?")
            raise DecodeError(str(path), f"{type(e).__name__} while decoding: {short(e)}") from e

    return wrapper  # type: ignore[return-value]
