"""The test pipeline a checkpoint's recipe prepares videos with, and changes to it.

``zelda export`` may change the clip length, the crop size and the number of views; the
exported model's fixed input shape and its metadata then follow the changed pipeline, and
verification clips are prepared with it, so the three always agree.

Steps are recognised by what the built transform offers (a sampler has ``clip_len`` and
``num_clips``, a resize has ``target_size``, a crop has ``crop_w``/``crop_h``), never by a
plugin's type name.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .._errors import RecipeError, ZeldaError


def test_steps(recipe: dict[str, Any], *, source: str = "the checkpoint") -> tuple[str, list[dict]]:
    """(split, pipeline steps) of the recipe's [data.test], else [data.val]."""
    data = recipe.get("data") or {}
    for split in ("test", "val"):
        table = data.get(split)
        if isinstance(table, dict) and isinstance(table.get("pipeline"), list):
            return split, copy.deepcopy(table["pipeline"])
    raise ZeldaError(f"{source}: its recipe has no [data.test] or [data.val] pipeline to "
                     "prepare videos with")


def _built(steps: list[dict]) -> list[Any]:
    from .._registry import build

    return [build("transforms", s, key=f"pipeline[{i}]") for i, s in enumerate(steps)]


def roles(steps: list[dict]) -> dict[str, int]:
    """Index of the sampler, resize and crop steps (those present)."""
    found: dict[str, int] = {}
    for i, t in enumerate(_built(steps)):
        if hasattr(t, "clip_len") and hasattr(t, "num_clips") and "sampler" not in found:
            found["sampler"] = i
        elif hasattr(t, "target_size") and "resize" not in found:
            found["resize"] = i
        elif hasattr(t, "crop_w") and hasattr(t, "crop_h"):
            found["crop"] = i
    return found


def adapt(steps: list[dict], *, clip_len: int | None = None, size: int | None = None,
          num_clips: int | None = None) -> list[dict]:
    """``steps`` with the sampler's ``clip_len``/``num_clips`` and the crop size replaced.

    A new crop size scales an int resize (short side) by the same ratio, keeping the
    recipe's resize-to-crop proportion (256 -> 224 becomes 146 -> 128 for ``size`` 128).
    """
    steps = copy.deepcopy(steps)
    where = roles(steps)
    if (clip_len or num_clips) and "sampler" not in where:
        raise ZeldaError("the test pipeline has no frame sampler whose clip length or number "
                         "of clips could be changed")
    if clip_len:
        steps[where["sampler"]]["clip_len"] = int(clip_len)
    if num_clips:
        steps[where["sampler"]]["num_clips"] = int(num_clips)
    if size:
        if "crop" not in where:
            raise ZeldaError("--size needs a crop step (e.g. center_crop) in the test pipeline")
        crop = steps[where["crop"]]
        old = crop.get("crop_size")
        old_w = old if isinstance(old, int) else (old[0] if isinstance(old, list) else None)
        crop["crop_size"] = int(size)
        resize = steps[where["resize"]] if "resize" in where else None
        if resize is not None and isinstance(resize.get("size"), int) and old_w:
            resize["size"] = max(int(size), round(resize["size"] * size / old_w))
    return steps


def describe(steps: list[dict], recipe: dict[str, Any], model: Any = None) -> dict[str, Any]:
    """Sampling, resize, crop and mean/std as plain dicts for the metadata (mean/std from
    the built ``model``'s normalizing preprocessor, where the recipe relies on its defaults)."""
    where = roles(steps)
    built = _built(steps)
    sampling: dict[str, Any] = {}
    if "sampler" in where:
        t = built[where["sampler"]]
        sampling = dict(steps[where["sampler"]])
        sampling.update(clip_len=int(t.clip_len), num_clips=int(t.num_clips),
                        frame_interval=getattr(t, "frame_interval", None))
    mean, std = _model_mean_std(model) if model is not None else (None, None)
    if mean is None:
        mean, std = _mean_std(recipe.get("model") or {})
    return {
        "sampling": sampling,
        "resize": dict(steps[where["resize"]]) if "resize" in where else None,
        "crop": dict(steps[where["crop"]]) if "crop" in where else None,
        "mean": mean, "std": std,
    }


def _model_mean_std(model: Any) -> tuple[list[float] | None, list[float] | None]:
    """The per-channel mean/std of the first :class:`~zelda_core.api.Normalize` in ``model``."""
    from ..api import Normalize

    for module in model.modules():
        if isinstance(module, Normalize):
            return module.mean.flatten().tolist(), module.std.flatten().tolist()
    return None, None


def _mean_std(table: Any) -> tuple[list[float] | None, list[float] | None]:
    """The first ``mean``/``std`` pair in the model tree (the preprocessor's)."""
    if isinstance(table, dict):
        if "mean" in table and "std" in table:
            return list(table["mean"]), list(table["std"])
        for v in table.values():
            found = _mean_std(v)
            if found[0] is not None:
                return found
    return None, None


def sample_opening(decoder: dict[str, Any]) -> dict[str, Any]:
    """The sample keys that say how to open a video: the decoder table and, where the core
    has one, a ``VideoOpener`` built (and checked) once for all samples."""
    from .. import _video

    keys: dict[str, Any] = {"decoder": dict(decoder)}
    opener = getattr(_video, "VideoOpener", None)
    if opener is not None:
        keys["opener"] = opener(dict(decoder), key="data.decoder")
    return keys


def make_sample(path: str | Path, index: int, *, seed: int, opening: dict[str, Any]) -> dict[str, Any]:
    """The sample dict a test pipeline starts from (as the datasets build it)."""
    from .._data import sample_rng

    return {"filename": str(Path(path).resolve()), "label": -1, "index": int(index), "epoch": 0,
            "rng": sample_rng(seed, 0, int(index)), "test_mode": True, **opening,
            "start_index": 0, "modality": "RGB"}


def pipeline_of(steps: list[dict]) -> Any:
    from .._pipeline import Pipeline

    try:
        return Pipeline.from_config(steps, key="pipeline")
    except RecipeError as exc:
        raise ZeldaError(f"the test pipeline cannot be built: {exc}") from None
