"""A recipe's ``weights`` value as a state dict: a torchvision weight name, a URL or a file.

Names and URLs go through torch's hub cache (``torch.hub.get_dir()/checkpoints``):
downloaded once with a progress bar, then read from there. Without network and without the
cached file, the error names the URL and the path to put the file at.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from zelda_core.api import PluginError, ZeldaError, install_hint

from .archs import ARCHS


class WeightsError(ZeldaError):
    """Weights that cannot be found, fetched or read."""


def torchvision(arch: str | None = None) -> Any:
    """The ``torchvision`` module, or a PluginError that says how to install it (a missing
    torchvision, or one that fails to import: a broken or mismatched install)."""
    try:
        import torchvision as tv
        import torchvision.models.video  # noqa: F401
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - any import failure: say what to install
        what = f"the model type '{arch}' needs" if arch else "torchvision's video models need"
        broken = "" if isinstance(exc, ImportError) else ", which is installed but does not import"
        raise PluginError(
            f"{what} torchvision{broken} ({type(exc).__name__}: {exc}); install "
            f"it with: {install_hint('torchvision', package=__package__)} (docs/models.md "
            "gives the torch/torchvision pair for CPU and CUDA machines)") from exc
    return tv


def weight_enum(arch: str) -> Any:
    """torchvision's ``WeightsEnum`` class of ``arch``."""
    return getattr(torchvision(arch).models.video, ARCHS[arch].weights_enum)


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def named_weights(arch: str, name: str) -> Any:
    """The torchvision weight set called ``name`` (e.g. ``KINETICS400_V1``, ``DEFAULT``),
    or None when ``name`` looks like a path or URL; ValueError for an unknown name."""
    if is_url(name) or name.endswith((".pth", ".pt")) or os.sep in name or "/" in name:
        return None
    enum = weight_enum(arch)
    try:
        return enum[name]
    except KeyError:
        if Path(name).exists():
            return None
        known = ", ".join(m.name for m in enum) + ", DEFAULT"
        raise ValueError(
            f"weights = {name!r}: {arch} has no weight set of that name (torchvision's "
            f"{enum.__name__}: {known}); or give the path of a .pth file, or a URL") from None


def cache_path(url: str) -> Path:
    """Where torch's hub cache keeps the file of ``url``."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def _from_url(url: str, what: str, progress: bool) -> dict[str, Any]:
    import torch

    target = cache_path(url)
    try:
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", progress=progress,
                                                  check_hash=True, weights_only=True)
    except (OSError, ValueError) as exc:  # URLError/HTTPError are OSErrors; ValueError: hash
        reason = getattr(exc, "reason", None) or exc
        raise WeightsError(
            f"weights = {what!r}: {target.name} is not in torch's cache and could not be "
            f"downloaded ({type(exc).__name__}: {reason}). Download {url} on a machine with "
            f"network access and put it at {target} (TORCH_HOME moves the cache), or set "
            "weights to the path of a local .pth file.") from None
    except RuntimeError as exc:  # a cached file that is not a state dict
        raise WeightsError(f"weights = {what!r}: {target} cannot be read ({exc}); delete it "
                           "to download it again") from None


def _unwrap(state: Any, path: str) -> dict[str, Any]:
    """The state dict inside a file: plain, ``{"state_dict": ...}``, or a zelda checkpoint
    (``{"model": ...}``); ``net.`` and DDP's ``module.`` prefixes removed."""
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state:
        raise WeightsError(f"weights = {path!r}: the file holds no state dict (got "
                           f"{type(state).__name__})")
    for prefix in ("module.", "net."):
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_state(arch: str, weights: str, *, progress: bool = True) -> tuple[dict[str, Any], str]:
    """(state dict, description) for a recipe's ``weights`` value."""
    import torch

    member = named_weights(arch, weights)
    if member is not None:
        return _from_url(member.url, weights, progress), f"{type(member).__name__}.{member.name}"
    if is_url(weights):
        return _unwrap(_from_url(weights, weights, progress), weights), weights
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsError(
            f"weights = {weights!r}: no such file. Give a torchvision weight name "
            f"(e.g. 'KINETICS400_V1'), a URL, or the path of a .pth file (relative paths are "
            f"relative to the working directory {Path.cwd()})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors of a damaged or foreign file
        raise WeightsError(f"weights = {weights!r}: cannot read {path}: "
                           f"{type(exc).__name__}: {exc}") from None
    return _unwrap(state, weights), str(path)


def clip_settings(docs: str) -> dict[str, float]:
    """``frame_rate``/``clip_len`` from a weight set's ``_docs`` sentence, where it says."""
    return {k: float(v) for k, v in re.findall(r"`(frame_rate|clip_len)=([0-9.]+)`", docs or "")}
