"""zelda_decoding: what every zelda decoder shares, a public, versioned library for decoder
authors (the bundled pyav and decord plugins and third-party decoders alike).

It is not a plugin (nothing registers through it) and not the core: the core never
imports a decoder library, while this package uses PyAV (a dependency of zelda-video)
inside its functions. Importing a module here imports neither av nor numpy at module
level, except ``rgb`` (numpy).

The API, version :data:`API_VERSION`:

- ``zelda_decoding.index``: the per-file packet index every decoder trusts instead of the
  container header (``get_index``, ``cached_index``, ``build_index``, ``clear_cache``,
  ``PacketIndex``, ``open_container``, ``video_stream``, ``packet_time``,
  ``seek_packets``, ``PTS_FORMATS``, ``OFFSET_FORMATS``, ``INDEX_VERSION``,
  ``read_display_matrix``; ``PacketIndex.display_matrix``);
- ``zelda_decoding.cursor``: where demuxing one stream stands, by decode position
  (``PacketCursor``, ``IndexMismatch``, ``READ_AHEAD``);
- ``zelda_decoding.rgb``: RGB conversion at a frame's own size and the resize kernel of
  zelda's resize transform (``frame_to_rgb``, ``resize_rgb``, ``check_interpolation``,
  ``INTERPOLATIONS``);
- ``zelda_decoding.boundary``: nothing but DecodeError (or IndexError) leaves a reader
  (``reader_boundary``, ``FrameIndexError``, ``short``);
- ``zelda_decoding.ffmpeg_log``: FFmpeg's log lines silent unless ``--debug``
  (``debug``, ``configure_pyav``, ``configure_decord``);
- ``zelda_decoding.h264_order``: H.264 display order from slice headers (``H264Order``,
  ``nal_spans``).

Each module lists these names in ``__all__``. A change that removes or changes one of
them bumps :data:`API_VERSION`; additions do not. A decoder checks it with
:func:`require`.
"""

from __future__ import annotations

API_VERSION = 1
"""The version of the names listed above (an int: bumped on any incompatible change)."""


def require(version: int) -> None:
    """Raise ImportError unless this package provides API ``version``.

    A third-party decoder calls it at import, so a mismatch is one line naming the
    versions instead of an AttributeError mid-training."""
    if version != API_VERSION:
        raise ImportError(f"this decoder needs zelda_decoding API {version}; the installed "
                          f"zelda-video provides API {API_VERSION}")
