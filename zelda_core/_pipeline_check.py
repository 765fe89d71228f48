"""A split's pipeline checked as a whole before anything runs: every step's declared
``needs`` are added by an earlier step, and the pipeline ends with what the model takes
(``inputs``: the packed clip tensor).

A transform declares the sample keys it reads and adds with the optional class attributes
``needs`` and ``adds`` (see ``zelda_core.api.Transform``). A transform without ``adds``
(a third-party one that says nothing) may add anything: the keys after it are unknown, so
nothing after it is flagged (no false alarm), and the loader still refuses a sample
without ``inputs`` at run time.
"""

from __future__ import annotations

from typing import Any

from ._errors import RecipeError, ZeldaError

START_KEYS = frozenset({"filename", "label", "index", "epoch", "rng", "test_mode", "opener",
                        "start_index", "modality"})
"""What the dataset puts in a sample before the first step (``VideoDataset.raw_sample``)."""
MODEL_INPUT = "inputs"
SAMPLER = "a sampling step (sample_frames, segment_sample, uniform_sample)"
HINTS = {"frame_inds": SAMPLER, "clip_len": SAMPLER, "num_clips": SAMPLER,
         "imgs": "decode", "input_shape": "format_shape", "inputs": "pack"}


def _declared(factory: Any, name: str) -> frozenset[str] | None:
    value = getattr(factory, name, None)
    if value is None or isinstance(value, str) or not hasattr(value, "__iter__"):
        return None
    return frozenset(str(k) for k in value)


def pipeline_errors(steps: Any, key: str, file: str | None) -> list[RecipeError]:
    """The structural problems of one split's ``pipeline`` list (empty when sound or when
    a step cannot be resolved: the component check reports that)."""
    from ._registry import get_component, resolve_factory

    if not isinstance(steps, list):
        return []
    keys: set[str] | None = set(START_KEYS)  # None: unknown (an undeclared step ran)
    errors = []
    for i, step in enumerate(steps):
        if not (isinstance(step, dict) and isinstance(step.get("type"), str)):
            return errors
        try:
            factory = resolve_factory(get_component("transforms", step["type"]))
        except ZeldaError:
            return errors
        needs, adds = _declared(factory, "needs"), _declared(factory, "adds")
        if keys is not None and needs:
            missing = sorted(needs - keys)
            if missing:
                hint = "; ".join(f"'{m}' comes from {HINTS[m]}" for m in missing if m in HINTS)
                errors.append(RecipeError(
                    f"step '{step['type']}' needs {', '.join(repr(m) for m in missing)} in the sample, "
                    f"which no earlier step adds" + (f" ({hint}; add it before this step)" if hint else ""),
                    file=file, key=f"{key}[{i}]"))
                keys = None  # the first gap only: its fix may change what follows
                continue
        if adds is None:
            keys = None
        elif keys is not None:
            keys = set(adds) if MODEL_INPUT in adds else keys | adds  # pack makes a new sample
    if keys is not None and MODEL_INPUT not in keys:
        errors.append(RecipeError(
            f"the pipeline ends without '{MODEL_INPUT}', the clip tensor the model trains on: every "
            "sample would be dropped. End it with format_shape and pack", file=file, key=key))
    return errors
