"""zelda bundled plugin: the ``pyav`` decoder (FFmpeg through PyAV).

Registered through the ``zelda`` entry-point group like any third-party plugin. The
reader module (and with it av and numpy) is imported only when a reader is built.
"""

from __future__ import annotations

from zelda_core.hookspecs import hookimpl


@hookimpl
def register_decoders(register):  # type: ignore[no-untyped-def]
    """Register ``pyav``: frame-accurate, skips non-reference frames nobody asked for."""
    register("pyav", "zelda_pyav.reader:PyAVReader")
