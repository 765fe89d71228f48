"""What a plugin hands the engine, checked where the engine receives it.

A value that breaks a component's contract (``zelda_core.api`` Protocols) is a
``PluginError`` naming the component, its plugin and distribution, and the clause: a
non-scalar or (before any training step) non-finite loss, ``predict`` scores of the wrong
shape, a metric whose ``compute`` or ``save`` returns the wrong thing, a transform whose
frame indices leave the video. Never a traceback from deep in the engine, never a good
video blamed. The original exception, when there is one, is chained (``--debug``).

The registry remembers who built each component (``remember``), so a check can name it.
"""

from __future__ import annotations

import math
import weakref
from pathlib import Path
from typing import Any

from ._errors import PluginError, ZeldaError

_OWNERS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_OWNERS_BY_ID: dict[int, str] = {}  # objects that cannot be weakly referenced


def remember(obj: Any, kind: str, name: str, provider: str, plugin: str) -> None:
    """Note that ``obj`` is the ``kind`` (plural) ``name`` of ``provider``."""
    text = f"the {kind[:-1]} '{name}' of {provider}|{plugin}"
    try:
        _OWNERS[obj] = text
    except TypeError:
        _OWNERS_BY_ID[id(obj)] = text


def _owner(obj: Any, kind: str) -> tuple[str, str | None]:
    try:
        text = _OWNERS.get(obj) or _OWNERS_BY_ID.get(id(obj))
    except TypeError:
        text = _OWNERS_BY_ID.get(id(obj))
    if text:
        who, _, plugin = text.partition("|")
        return who, plugin
    cls = type(obj)
    return f"the {kind} {cls.__module__}.{cls.__qualname__}", None


def broken(obj: Any, kind: str, clause: str, detail: str) -> PluginError:
    """The PluginError for ``obj`` (a ``kind``: "model", "metric", "transform") breaking
    ``clause`` of its contract; one line."""
    from ._plugins import disable_hint

    who, plugin = _owner(obj, kind)
    fix = f"; to run without that plugin: {disable_hint(plugin)}" if plugin else ""
    return PluginError(f"{who} breaks its contract ({clause}): {detail}. This is a bug in the "
                       f"plugin, not in the recipe or the data{fix}")


def describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__} of shape {tuple(shape)}"
    return f"{type(value).__name__} {value!r:.60}"


# -- models ----------------------------------------------------------------------------

LOSS_CLAUSE = "loss(inputs, labels) returns a finite scalar tensor"
PREDICT_CLAUSE = "predict(inputs) returns (B, K) scores, views averaged"


def check_loss(loss: Any, model: Any, *, first: bool) -> None:
    """A scalar tensor that can be backpropagated; finite on the run's first step (no
    optimizer step has changed the weights yet: a NaN there is the model's, not the lr's)."""
    import torch

    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise broken(model, "model", LOSS_CLAUSE, f"it returned {describe(loss)}"
                     + (" (reduce it, e.g. .mean())" if isinstance(loss, torch.Tensor) else ""))
    if not loss.requires_grad and torch.is_grad_enabled():
        raise broken(model, "model", LOSS_CLAUSE,
                     "it returned a tensor that does not depend on the model's parameters "
                     "(no gradient can flow; was it detached or computed under no_grad?)")
    if first and not bool(torch.isfinite(loss.detach())):
        raise broken(model, "model", LOSS_CLAUSE,
                     f"it returned {float(loss.detach())} on the first step, before any "
                     "training changed the weights")


def check_scores(scores: Any, model: Any, *, batch: int, views: int | None = None) -> None:
    """``predict``'s (B, K) float tensor for a batch of ``batch`` videos."""
    import torch

    classes = getattr(model, "num_classes", None)
    k = classes if isinstance(classes, int) and not isinstance(classes, bool) else None
    want = f"({batch}, {k if k is not None else 'K'})"
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2 or scores.shape[0] != batch \
            or (k is not None and scores.shape[1] != k) or not scores.is_floating_point():
        seen = f" of {views} views each" if views and views > 1 else ""
        raise broken(model, "model", PREDICT_CLAUSE,
                     f"for {batch} videos{seen} it returned {describe(scores)}"
                     + (f", dtype {scores.dtype}" if isinstance(scores, torch.Tensor) else "")
                     + f"; expected float {want} (zelda_core.api.average_views averages views)")


# -- metrics -----------------------------------------------------------------------------

COMPUTE_CLAUSE = "compute() returns {str: float}"
SAVE_CLAUSE = "save(directory, classes) returns the path of a file it wrote inside directory"


class CheckedMetric:
    """A metric whose results are checked as the engine receives them; any exception it
    raises becomes a PluginError naming it (the original chained)."""

    def __init__(self, metric: Any):
        self.metric = metric

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self.metric, method)(*args)
        except ZeldaError:
            raise
        except Exception as exc:
            raise broken(self.metric, "metric", f"{method}() works on the engine's values",
                         f"it raised {type(exc).__name__}: {exc}") from exc

    def reset(self) -> None:
        self._call("reset")

    def update(self, scores: Any, labels: Any) -> None:
        self._call("update", scores, labels)

    def compute(self) -> dict[str, float]:
        out = self._call("compute")
        if not isinstance(out, dict):
            raise broken(self.metric, "metric", COMPUTE_CLAUSE, f"it returned {describe(out)}")
        for key, value in out.items():
            ok = isinstance(key, str) and not isinstance(value, bool)
            try:
                float(value)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise broken(self.metric, "metric", COMPUTE_CLAUSE,
                             f"it returned {key!r}: {describe(value)}")
        return out

    def __getattr__(self, name: str) -> Any:
        if name == "save" and callable(getattr(self.metric, "save", None)):
            return self._save
        return getattr(self.metric, name)

    def _save(self, directory: Path, classes: list[str]) -> Path:
        out = self._call("save", directory, classes)
        try:
            path = Path(out)
        except TypeError:
            raise broken(self.metric, "metric", SAVE_CLAUSE, f"it returned {describe(out)}") from None
        inside = Path(directory).resolve()
        resolved = (inside / path).resolve() if not path.is_absolute() else path.resolve()
        if not resolved.is_file() or inside not in resolved.parents:
            what = "does not exist" if not resolved.exists() else (
                "is not a file" if not resolved.is_file() else f"is outside {inside}")
            raise broken(self.metric, "metric", SAVE_CLAUSE, f"it returned {str(out)!r}, which {what}")
        return resolved


def check_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The engine's view of built metrics: each wrapped in ``CheckedMetric``."""
    return {name: m if isinstance(m, CheckedMetric) else CheckedMetric(m) for name, m in metrics.items()}


# -- transforms --------------------------------------------------------------------------

INDEX_CLAUSE = "frame_inds stay in [0, total_frames)"


def check_frame_inds(sample: dict[str, Any], transform: Any, name: str) -> None:
    """The indices ``transform`` (step ``name``) left in ``sample`` are frames of the video."""
    total = sample.get("total_frames")
    inds = sample.get("frame_inds")
    if inds is None or not isinstance(total, int) or isinstance(total, bool):
        return
    import numpy as np

    try:
        arr = np.asarray(inds)
    except Exception:  # noqa: BLE001 - not array-like: the decoder step reports it
        return
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.number):
        return
    low, high = arr.min(), arr.max()
    if low < 0 or high >= total or (np.issubdtype(arr.dtype, np.floating) and not math.isfinite(float(high))):
        bad = low if low < 0 else high
        raise broken(transform, "transform", INDEX_CLAUSE,
                     f"step '{name}' gave index {bad} for {sample.get('filename', 'a video')}, "
                     f"which has {total} frames")
