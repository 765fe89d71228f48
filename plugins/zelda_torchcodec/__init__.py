"""zelda bundled plugin: the ``torchcodec`` decoder (PyTorch's own decoder, on CPU or on a
CUDA GPU's NVDEC engines; extra ``zelda-video[torchcodec]``).

Registered through the ``zelda`` entry-point group like any third-party plugin. The
reader module (and with it torch and torchcodec) is imported only when a reader is built.
"""

from __future__ import annotations

from zelda_core.api import hookimpl


@hookimpl
def register_decoders(register):  # type: ignore[no-untyped-def]
    """Register ``torchcodec``: frames located by zelda's packet index, decoded by torchcodec."""
    register("torchcodec", "zelda_torchcodec.reader:TorchcodecReader")
