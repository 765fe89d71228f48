"""Self-describing checkpoints, written atomically, loadable with weights_only=True.

A checkpoint is a plain dict of tensors and primitives (no pickled classes):

- ``format``: "zelda-checkpoint/1"; ``model``: the model's state_dict;
- ``optimizer``, ``scheduler``, ``scaler``: their state_dicts (or None);
- ``epoch`` (epochs completed), ``iter_in_epoch``, ``global_step``, ``best``, ``rng`` (and ``rng_ranks``: every rank's, in a distributed run);
- ``recipe`` (the resolved recipe as plain dicts), ``recipe_toml`` (the same as TOML
  text), ``classes`` (label names), ``versions``, ``metrics`` (the latest validation);
- ``ema``: the moving average of the weights (``train.ema``: ``model``, ``updates`` and
  its settings) or None; when its ``use`` is "ema", ``model_state`` gives these weights.
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

from .._userfile import expect_file
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

    A crash at any point leaves either the previous file or the new one, never a torn one;
    a symlink or special file at ``path`` is refused, never replaced.
    """
    from .._outputs import check_output_file

    check_output_file(path, option="checkpoint")
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


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc``: torch.save reports a failed write (a full disk) as
    ``RuntimeError: [enforce fail at inline_container.cc]`` raised while handling it."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """OS errors while writing ``path`` become one CheckpointError naming it."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        cause = _os_error(exc)
        if cause is None:
            raise
        from .._errors import os_error_message

        raise CheckpointError(os_error_message(cause, "write the checkpoint", path)
                              + " (the previous checkpoint of that name is kept)") from exc


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, then ``os.replace``."""
    path = Path(path)
    with _writing(path), _replacing(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    return path


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Make ``dst`` a copy of ``src`` atomically (a hard link when possible)."""
    src, dst = Path(src), Path(dst)
    with _writing(dst), _replacing(dst) as tmp:
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
    problem = expect_file(path, "checkpoint", "a checkpoint file")
    if problem:
        raise CheckpointError(problem)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torn file, not a torch file, or pickled code
        lines = [x for x in str(exc).splitlines() if x.strip()]
        detail = next((x.strip() for x in lines if "Unsupported global" in x), lines[0] if lines else "")
        what = f"{type(exc).__name__}: {detail}" if detail else (
            "the file ended early" if isinstance(exc, EOFError) else type(exc).__name__)
        raise CheckpointError(
            f"cannot read checkpoint {path}: {what}. "
            "zelda checkpoints load with torch.load(weights_only=True); a file with pickled "
            "objects or a partial download is refused."
        ) from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} is not a checkpoint (a {type(ckpt).__name__}, not a dict)")
    from .._registry import remember_provenance  # a missing component's error names its dist

    remember_provenance(ckpt.get("versions"))
    return ckpt


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_resumable(ckpt: dict[str, Any], path: str | os.PathLike) -> None:
    """CheckpointError unless ``ckpt`` has everything --resume restores, of the right types."""
    problems = []
    for key in ("model", "optimizer", "epoch", "rng"):
        if key not in ckpt:
            problems.append(f"no '{key}'")
    model = ckpt.get("model")
    if "model" in ckpt and not (isinstance(model, dict) and model
                                and all(isinstance(v, torch.Tensor) for v in model.values())):
        problems.append(f"'model' is a {type(model).__name__}, not a non-empty dict of tensors")
    opt = ckpt.get("optimizer")
    if "optimizer" in ckpt and not (isinstance(opt, dict) and isinstance(opt.get("state"), dict)
                                    and isinstance(opt.get("param_groups"), list)
                                    and opt["param_groups"]
                                    and all(isinstance(g, dict) and isinstance(g.get("params"), list)
                                            for g in opt["param_groups"])):
        problems.append("'optimizer' is not an optimizer state (a dict with 'state' and a "
                        "non-empty 'param_groups' list)")
    for key in ("epoch", "iter_in_epoch", "global_step"):
        value = ckpt.get(key, 0)
        if key in ckpt and not (_is_int(value) and value >= 0):
            problems.append(f"'{key}' is {value!r}, not a count >= 0")
    rng = ckpt.get("rng")
    if "rng" in ckpt and not valid_rng(rng):
        problems.append("'rng' is not the RNG state zelda saves (python, numpy and torch)")
    for key in ("scheduler", "scaler", "best", "metrics"):
        if ckpt.get(key) is not None and not isinstance(ckpt[key], dict):
            problems.append(f"'{key}' is a {type(ckpt[key]).__name__}, not a dict")
    ema = ckpt.get("ema")
    if ema is not None and not (isinstance(ema, dict) and isinstance(ema.get("model"), dict)
                                and _is_int(ema.get("updates")) and ema["updates"] >= 0):
        problems.append("'ema' is not the weight average zelda saves (a dict with 'model' and 'updates')")
    if problems:
        raise CheckpointError(f"{path} cannot be resumed from: {'; '.join(problems)}. It is not "
                              "a complete zelda checkpoint (damaged, or written by something "
                              "else); resume from another one, or use --init-from to load only "
                              "its weights")


def valid_rng(rng: Any) -> bool:
    if not isinstance(rng, dict):
        return False
    py, np_state, t = rng.get("python"), rng.get("numpy"), rng.get("torch")
    return (isinstance(py, (tuple, list)) and len(py) == 3 and isinstance(py[1], (tuple, list))
            and isinstance(np_state, dict)
            and isinstance(np_state.get("keys"), torch.Tensor) and np_state["keys"].numel() == 624
            and all(_is_int(np_state.get(k)) for k in ("pos", "has_gauss"))
            and isinstance(np_state.get("cached_gaussian"), (int, float))
            and isinstance(t, torch.Tensor) and t.dtype == torch.uint8 and t.numel() > 0)


def nonfinite_tensors(state: dict[str, Any]) -> list[str]:
    """Names of the floating-point tensors of ``state`` holding NaN or inf."""
    return [k for k, v in state.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def check_finite_weights(state: dict[str, Any], path: str | os.PathLike) -> None:
    """CheckpointError when weights hold NaN/inf: every prediction would be NaN."""
    bad = nonfinite_tensors(state)
    if bad:
        shown = ", ".join(bad[:5]) + (f" ... ({len(bad)} in all)" if len(bad) > 5 else "")
        raise CheckpointError(f"{path} has NaN or infinite weights ({shown}); the run that wrote "
                              "it had diverged. Use an earlier checkpoint (epoch_N.pth) or "
                              "retrain with a lower learning rate")


def state_dict_problem(exc: BaseException, limit: int = 600) -> str:
    """What ``load_state_dict``'s error says, on one line: its first line alone ("Error(s)
    in loading state_dict for Recognizer:") names neither a key nor a shape."""
    lines = [x.strip() for x in str(exc).splitlines() if x.strip()]
    if len(lines) > 1 and lines[0].startswith("Error(s) in loading state_dict"):
        lines = lines[1:]
    text = " ".join(lines)
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def model_state(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights of a zelda checkpoint (its EMA weights when the run chose them:
    ``train.ema.use``), or of a plain/`state_dict`-wrapped state dict."""
    if ckpt.get("ema") is not None:
        from .ema import chosen_weights

        ema = chosen_weights(ckpt)
        if ema is not None:
            return ema
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


def prune(directory: str | os.PathLike, keep: int, upto: int | None = None) -> list[Path]:
    """Delete all but the ``keep`` newest ``epoch_N.pth`` (0 keeps all); returns the deleted.

    ``upto``: only files with N <= upto count (the run's own; a higher N is left by an
    abandoned run and must not push the newest checkpoint out)."""
    if keep <= 0:
        return []
    found = epoch_checkpoints(directory)
    if upto is not None:
        found = [p for p in found if int(_EPOCH_RE.match(p.name).group(1)) <= upto]
    old = found[:-keep]
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
