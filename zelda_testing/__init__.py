"""zelda's conformance kit for plugin authors (shipped in the zelda-video wheel).

Each ``check_*`` function runs one kind's contract (see the Protocols in
``zelda_core.api``) against a component and raises :class:`ConformanceError` listing
every clause it breaks. Decoders are checked on media the kit makes itself with PyAV, so
no corpus is needed. Use them from your plugin's tests::

    from zelda_testing import check_decoder

    def test_my_decoder_conforms(tmp_path):
        check_decoder("my_decoder", tmp_path)

This is a package of its own, not part of ``zelda_core``: the core never imports a
decoding library, and the kit needs PyAV to make its media.
"""

from __future__ import annotations

from .components import check_batch_transform, check_metric, check_model, check_transform
from .decoders import check_decoder
from .errors import ConformanceError
from .loggers import check_logger
from .media import frame_ids, make_corrupt, make_truncated, make_video

__all__ = [
    "ConformanceError", "check_decoder", "check_transform", "check_metric", "check_model",
    "check_batch_transform", "check_logger", "make_video", "make_corrupt", "make_truncated", "frame_ids",
]
