"""The ``device`` option: CPU decoding, or NVDEC on a CUDA GPU through torchcodec.

The CPU path never touches ``torch.cuda``. A CUDA decoder is refused in a DataLoader
worker that was forked (CUDA cannot be used after fork; torchcodec's documentation asks
for the ``spawn`` start method), with a message saying what to set.
"""

from __future__ import annotations

import re
from typing import Any

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")


def check_device(device: str) -> str:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"``; ValueError (a recipe error) otherwise."""
    if not isinstance(device, str) or not _DEVICE.match(device):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', not {device!r}")
    return device


def decode_device(device: str) -> str:
    """The device torchcodec decodes on, after checking CUDA can be used here."""
    if device == "cpu":
        return device
    import torch

    if not torch.cuda.is_available():
        raise ValueError(f"device = '{device}' needs a CUDA GPU and torchcodec's CUDA build; "
                         "this machine has no usable CUDA device (use device = 'cpu')")
    if _in_forked_worker():
        raise ValueError(f"device = '{device}' cannot decode in a forked DataLoader worker "
                         "(CUDA does not survive fork): set data.workers = 0, or use the "
                         "'spawn' start method")
    return device


def _in_forked_worker() -> bool:
    from torch.utils.data import get_worker_info

    if get_worker_info() is None:
        return False
    import multiprocessing

    return multiprocessing.get_start_method(allow_none=True) in (None, "fork")


def resize_on_device(data: Any, h: int, w: int) -> Any:
    """(N, 3, H, W) uint8 frames resized on their device: bilinear, no antialiasing, as
    zelda's resize kernel. CUDA has no uint8 bilinear kernel: there it interpolates in
    float32 and rounds (within one level of the CPU's fixed-point kernel)."""
    import torch
    import torch.nn.functional as F

    if data.device.type == "cpu":
        return F.interpolate(data, size=(h, w), mode="bilinear", antialias=False,
                             align_corners=False)
    out = F.interpolate(data.float(), size=(h, w), mode="bilinear", antialias=False,
                        align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)
