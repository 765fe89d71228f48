"""FFmpeg's own log lines (``[h264 @ 0x...] Invalid NAL unit size``): silent unless
zelda runs with ``--debug``.

zelda reports a bad file once, as a DecodeError naming it; FFmpeg's per-packet lines on
stderr only repeat that, thousands of times in a training log. With ``--debug`` (the CLI
sets ``ZELDA_DEBUG=1``, which DataLoader workers inherit) PyAV's FFmpeg logs through
Python's ``logging`` (loggers ``libav.*``, level WARNING) and decord's FFmpeg, which
links its own copy of the libraries and can only print to stderr, keeps decord's
default (errors). Each reader module calls its function once, at import.
"""

from __future__ import annotations

import os

__all__ = ["debug", "configure_pyav", "configure_decord"]


def debug() -> bool:
    """Whether zelda runs with --debug (``ZELDA_DEBUG`` set and not "0")."""
    return os.environ.get("ZELDA_DEBUG", "0") not in ("", "0")


def configure_pyav() -> None:
    """PyAV's FFmpeg: no log lines, or through ``logging`` with --debug."""
    import av.logging

    av.logging.set_level(av.logging.WARNING if debug() else None)


def configure_decord() -> None:
    """decord's FFmpeg (its own build): quiet, or errors on stderr with --debug."""
    import decord.logging

    decord.logging.set_level(decord.logging.ERROR if debug() else decord.logging.QUIET)
