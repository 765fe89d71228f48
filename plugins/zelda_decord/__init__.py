"""zelda bundled plugin: the ``decord`` decoder.

Registered through the ``zelda`` entry-point group like any third-party plugin. The
reader module (and with it decord and numpy) is imported only when a reader is built.
"""

from __future__ import annotations

from zelda_core.api import hookimpl


@hookimpl
def register_decoders(register):  # type: ignore[no-untyped-def]
    """Register ``decord``: files are validated with the PyAV packet index first."""
    register("decord", "zelda_decord.reader:DecordReader")
