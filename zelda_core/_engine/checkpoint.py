"""Self-describing checkpoints, written atomically, loadable with weights_only=True.

A checkpoint is a plain dict of tensors and primitives (no pickled classes):

- ``format``: "zelda-checkpoint/1"; ``model``: the model's state_dict;
- ``optimizer``, ``scheduler``, ``scaler``: their state_dicts (or None);
- ``epoch`` (epochs completed), ``iter_in_epoch``, ``global_step``, ``best``, ``rng``;
- ``recipe`` (the resolved recipe as plain dicts), ``recipe_toml`` (the same as TOML
  text), ``classes`` (label names), ``versions``, ``metrics`` (the latest validation).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import CheckpointError

FORMAT = "zelda-checkpoint/1"


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not supported on this platform/filesystem
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    A crash at any point leaves either the previous file or the new one, never a torn one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, then ``os.replace``."""
    path = Path(path)
    with _replacing(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    return path


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Make ``dst`` a copy of ``src`` atomically (a hard link when possible)."""
    src, dst = Path(src), Path(dst)
    with _replacing(dst) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
    return dst


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; CheckpointError for people."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torn file, not a torch file, or pickled code
        lines = [x for x in str(exc).splitlines() if x.strip()]
        detail = next((x.strip() for x in lines if "Unsupported global" in x), lines[0] if lines else "")
        raise CheckpointError(
            f"cannot read checkpoint {path}: {type(exc).__name__}: {detail}. "
            "zelda checkpoints load with torch.load(weights_only=True); a file with pickled "
            "objects or a partial download is refused."
        ) from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} is not a checkpoint (a {type(ckpt).__name__}, not a dict)")
    from .._registry import remember_provenance  # a missing component's error names its dist

    remember_provenance(ckpt.get("versions"))
    return ckpt


def model_state(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights of a zelda checkpoint, or of a plain/`state_dict`-wrapped state dict."""
    for key in ("model", "state_dict"):
        if isinstance(ckpt.get(key), dict):
            return ckpt[key]
    if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return ckpt
    raise CheckpointError("no model weights in this checkpoint (no 'model' or 'state_dict' entry)")


# --- RNG state as plain tensors/tuples (weights_only-safe) ---------------------------

def rng_state() -> dict[str, Any]:
    """The global RNG states of python, numpy and torch (CPU and CUDA)."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


# --- keep-N ----------------------------------------------------------------------------

_EPOCH_RE = re.compile(r"^epoch_(\d+)\.pth$")


def epoch_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """``epoch_N.pth`` files in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _EPOCH_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def prune(directory: str | os.PathLike, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest ``epoch_N.pth`` (0 keeps all); returns the deleted."""
    if keep <= 0:
        return []
    old = epoch_checkpoints(directory)[:-keep]
    for p in old:
        p.unlink(missing_ok=True)
    return old


def plain(obj: Any) -> Any:
    """``obj`` with every leaf a tensor or a builtin (what ``weights_only=True`` accepts):
    str subclasses (e.g. torch's TorchVersion) become str, numpy scalars Python numbers,
    paths str."""
    if isinstance(obj, torch.Tensor) or obj is None or type(obj) in (bool, int, float, str):
        return obj
    if isinstance(obj, dict):
        return {(k if type(k) in (str, int) else str(k)): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj) if type(obj) in (list, tuple) else [plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    return str(obj)


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``state`` (adding ``format``) atomically, as weights_only-loadable plain data."""
    return atomic_save(plain({"format": FORMAT, **state}), path)
