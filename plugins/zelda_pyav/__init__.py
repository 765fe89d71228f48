"""zelda bundled plugin: the ``pyav`` decoder (FFmpeg through PyAV).

Registered through the ``zelda`` entry-point group like any third-party plugin. The
reader module (and with it av and numpy) is imported only when a reader is built.
"""

from __future__ import annotations

from zelda_core.api import hookimpl


@hookimpl
def register_decoders(register):  # type: ignore[no-untyped-def]
    """Register ``pyav``: frame-accurate, skips non-reference frames nobody asked for."""
    register("pyav", "zelda_pyav.reader:PyAVReader")


@hookimpl
def register_commands(register):  # type: ignore[no-untyped-def]
    """``zelda bench decode`` (the decode benchmark against the floor) and ``zelda data
    prepare`` (verified random-access copies of a dataset)."""
    register("zelda_pyav.bench_decode_cmd", group="bench")
    register("zelda_pyav.prepare_cmd", group="data")
