"""Loading torchcodec: a missing package or missing FFmpeg libraries as one line naming
what to install, and FFmpeg's log lines silent unless ``--debug``.

torchcodec links the system's FFmpeg (the CPU wheel of 0.13 loads FFmpeg 4 to 8 shared
libraries); when none loads it raises a RuntimeError with a page of tracebacks. zelda
turns that into an ImportError, which ``zelda plugins --check`` and ``zelda recipe
check`` show as the decoder being unusable, with the install line.
"""

from __future__ import annotations

import os
from typing import Any

from zelda_core.api import install_hint
from zelda_decoding.ffmpeg_log import debug

APT_PACKAGES = ("libavcodec59", "libavformat59", "libavutil57", "libswscale6",
                "libswresample4", "libavdevice59", "libavfilter8")
"""Debian 12's FFmpeg 5.1 libraries, which the torchcodec 0.13 CPU wheel loads."""

FFMPEG_HINT = ("torchcodec cannot load FFmpeg's shared libraries (FFmpeg 4 to 8); install "
               f"them, e.g. on Debian/Ubuntu: apt-get install -y {' '.join(APT_PACKAGES)} "
               "(or the 'ffmpeg' package)")

def load() -> Any:
    """``torchcodec.decoders.VideoDecoder``, or ImportError saying what to install."""
    quiet_ffmpeg()
    try:
        from torchcodec.decoders import VideoDecoder
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] == "torchcodec":
            raise ImportError("the torchcodec decoder needs the 'torchcodec' package: "
                              f"{install_hint('torchcodec', package=__package__)}") from e
        raise
    except RuntimeError as e:
        if "Could not load libtorchcodec" in str(e):
            raise ImportError(FFMPEG_HINT) from None
        raise
    return VideoDecoder


def quiet_ffmpeg() -> None:
    """The log level of the FFmpeg torchcodec loaded (the system's, not PyAV's bundled copy,
    which ``zelda_decoding.ffmpeg_log`` handles): silent, or errors on stderr with --debug.
    torchcodec sets it from ``TORCHCODEC_FFMPEG_LOG_LEVEL`` whenever it opens a file."""
    os.environ["TORCHCODEC_FFMPEG_LOG_LEVEL"] = "ERROR" if debug() else "QUIET"
