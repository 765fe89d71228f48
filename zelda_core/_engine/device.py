"""Device selection, mixed precision and memory format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .errors import TrainingError

if TYPE_CHECKING:
    from .distributed import Dist


def select_device(spec: str = "auto", *, option: str = "train.device", ctx: Dist | None = None) -> torch.device:
    """'auto' -> CUDA when available, else CPU; also 'cpu', 'cuda', 'cuda:N', 'mps'.
    Under torchrun with CUDA, 'auto' and 'cuda' are the process's GPU (LOCAL_RANK):
    ``ctx.gpu`` (the process's place in the run), or asked of the process group.
    ``option``: how the user set it, for messages ("train.device" or "--device")."""
    said = f"{option} = " if option == "train.device" else f"{option} "
    fix = "--set train.device=" if option == "train.device" else f"{option} "
    spec = (spec or "auto").strip()
    if spec in ("auto", "cuda"):
        if ctx is None:
            from .distributed import local_device

            local = local_device()  # a distributed CUDA run: the GPU LOCAL_RANK
        else:
            local = ctx.gpu
        if local is not None:
            return local
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise TrainingError(f"{said}'mps' but this PyTorch has no MPS device; use 'auto' or 'cpu'")
        return torch.device("mps")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise TrainingError(
                f"{said}{spec!r} but CUDA is not available (torch {torch.__version__}, "
                f"CUDA build: {torch.version.cuda or 'no'}); use {fix}auto or {fix}cpu"
            )
        index = int(spec[5:]) if spec.startswith("cuda:") else 0
        if index >= torch.cuda.device_count():
            raise TrainingError(
                f"{said}{spec!r} but only {torch.cuda.device_count()} CUDA device(s) "
                f"exist (cuda:0 to cuda:{torch.cuda.device_count() - 1})"
            )
        return torch.device("cuda", index)
    raise TrainingError(f"unknown {option} {spec!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'")


def amp_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``train.amp`` on ``device`` (None: full precision).

    'auto' is bf16 on CUDA (fp16 on GPUs without bf16), off elsewhere; 'bf16' also works
    on CPU (useful on CPUs with native bf16); 'fp16' needs CUDA and uses a GradScaler.
    """
    if setting == "none":
        return None
    if setting == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if setting == "bf16":
        return torch.bfloat16
    if setting == "fp16":
        if device.type != "cuda":
            raise TrainingError(
                f"train.amp = 'fp16' needs a CUDA device, the run uses {device}; "
                "use amp = 'bf16' or 'none' on CPU"
            )
        return torch.float16
    raise TrainingError(f"unknown train.amp {setting!r}: use 'auto', 'bf16', 'fp16' or 'none'")


def make_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A GradScaler, enabled only for fp16 (bf16 and fp32 need none)."""
    enabled = dtype == torch.float16 and device.type == "cuda"
    return torch.amp.GradScaler(device.type if enabled else "cpu", enabled=enabled)


def use_channels_last(setting: bool | str, device: torch.device) -> bool:
    """Whether to run the model in channels_last_3d: 'auto' -> yes on CUDA and on CPU
    (measured 1.5x faster for the Conv3d recognizer with oneDNN on a 2-core AVX2 CPU)."""
    if setting == "auto":
        return device.type in ("cuda", "cpu")
    return bool(setting)


def apply_channels_last(model: torch.nn.Module) -> bool:
    """Switch ``model`` to channels_last_3d through its ``enable_channels_last()``; a model
    without that method (e.g. a 2D-conv model) is left as it is. Returns whether it switched."""
    enable = getattr(model, "enable_channels_last", None)
    if not callable(enable):
        return False
    enable()
    return True


@dataclass(frozen=True)
class Placement:
    """Where a model runs: its device, autocast dtype (None: fp32) and memory format."""

    device: torch.device
    dtype: torch.dtype | None
    channels_last: bool

    def describe(self) -> str:
        return describe(self.device, self.dtype, self.channels_last)


def place_model(model: torch.nn.Module, *, device: str | torch.device = "auto", amp: str = "auto",
                channels_last: bool | str = "auto") -> Placement:
    """Put ``model`` on its device with its precision and memory format (``[train]``'s
    ``device``, ``amp`` and ``channels_last``): the one place training, testing and
    prediction set a model up."""
    dev = device if isinstance(device, torch.device) else select_device(device)
    dtype = amp_dtype(amp, dev)
    model.to(dev)
    cl = use_channels_last(channels_last, dev) and apply_channels_last(model)
    return Placement(dev, dtype, cl)


def describe(device: torch.device, dtype: torch.dtype | None, channels_last: bool) -> str:
    """One line for the log: device name, precision and memory format."""
    if device.type == "cuda":
        name = f"{device} ({torch.cuda.get_device_name(device)})"
    else:
        name = f"{device} ({torch.get_num_threads()} threads)"
    prec = {None: "fp32", torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast + GradScaler"}[dtype]
    return f"{name}, {prec}{', channels_last_3d' if channels_last else ''}"
