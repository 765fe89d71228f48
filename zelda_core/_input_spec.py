"""A model's declared input (``zelda_core.api.InputSpec``) as recipe defaults and checks.

A model factory may declare ``input_spec(params) -> InputSpec`` (e.g. the preprocessing
its pretrained weights were trained with). ``apply_input_spec`` fills what a recipe leaves
out: ``mean``/``std`` of every model-tree table whose factory takes them, and the pipeline
parameters that transforms declare in ``input_params`` (clip length, resize, crop).
``input_spec_errors`` reports values that contradict the spec, ``input_spec_warnings``
values that differ from it but still run. Nothing here names a plugin.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from ._errors import RecipeError, ZeldaError

FIELDS = ("frames", "resize", "crop")
"""InputSpec fields a transform may declare in ``input_params``."""


def _factory(kind: str, table: Any) -> Any:
    """The factory behind a typed table, or None when it cannot be resolved (validation
    reports that with the recipe key)."""
    from ._registry import get_component, resolve_factory

    if not (isinstance(table, dict) and isinstance(table.get("type"), str)):
        return None
    try:
        return resolve_factory(get_component(kind, table["type"]))
    except ZeldaError:
        return None


def _model_tables(table: Any, key: str = "model") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(table, dict) and isinstance(table.get("type"), str):
        yield key, table
        for name, value in table.items():
            yield from _model_tables(value, f"{key}.{name}")


def model_input_spec(data: dict[str, Any]) -> tuple[str, Any] | None:
    """(key, InputSpec) of the first model-tree table whose factory declares one.

    A factory whose ``input_spec`` raises a ZeldaError (e.g. a missing optional dependency)
    counts as declaring none here; ``input_spec_errors`` reports the error."""
    for key, table in _model_tables(data.get("model")):
        spec_of = getattr(_factory("models", table), "input_spec", None)
        if not callable(spec_of):
            continue
        try:
            spec = spec_of({k: v for k, v in table.items() if k != "type"})
        except (ZeldaError, ValueError):
            continue
        if spec is not None:
            return key, spec
    return None


def _takes(factory: Any, name: str) -> bool:
    from ._params import accepted_params, signature_of

    sig = signature_of(factory) if factory is not None else None
    return sig is not None and name in accepted_params(sig)


def _steps(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, tuple[str, ...]]]]:
    """(key, step, declared input params) of every pipeline step that declares some."""
    d = data.get("data")
    if not isinstance(d, dict):
        return
    for split, table in d.items():
        if not (isinstance(table, dict) and isinstance(table.get("pipeline"), list)):
            continue
        for i, step in enumerate(table["pipeline"]):
            declared = getattr(_factory("transforms", step), "input_params", None)
            if not isinstance(declared, dict):
                continue
            params = {f: (p,) if isinstance(p, str) else tuple(p) for f, p in declared.items() if f in FIELDS}
            if params:
                yield f"data.{split}.pipeline[{i}]", step, params


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def apply_input_spec(data: dict[str, Any]) -> list[str]:
    """Fill ``data`` (a recipe dict, in place) from its model's InputSpec; returns one note
    per filled value (``key = value``), empty when the model declares nothing."""
    found = model_input_spec(data)
    if found is None:
        return []
    _, spec = found
    notes = []
    for key, table in _model_tables(data.get("model")):
        factory = _factory("models", table)
        for name in ("mean", "std"):
            value = getattr(spec, name)
            if value is not None and name not in table and _takes(factory, name):
                table[name] = [float(v) for v in value]
                notes.append(f"{key}.{name} = {table[name]}")
    for key, step, params in _steps(data):
        for name, (param, *alternatives) in params.items():
            value = getattr(spec, name)
            if value is None or param in step or any(a in step for a in alternatives):
                continue
            step[param] = _plain(value)
            notes.append(f"{key}.{param} = {step[param]}")
    return [f"{n}  (from {spec.source})" for n in notes]


def _scale_problem(given: Any, expected: tuple[float, ...]) -> str | None:
    if not (isinstance(given, list) and given and all(isinstance(v, (int, float)) for v in given)):
        return None
    if max(abs(v) for v in given) <= 1.0 < max(abs(v) for v in expected):
        return "is on the 0-1 scale, but zelda normalizes 0-255 pixel values"
    return None


def _close(given: Any, expected: Any, rel: float = 0.01) -> bool:
    if isinstance(expected, (tuple, list)):
        return (isinstance(given, list) and len(given) == len(expected)
                and all(_close(g, e, rel) for g, e in zip(given, expected)))
    return isinstance(given, (int, float)) and math.isclose(given, expected, rel_tol=rel, abs_tol=1e-6)


def _size_of(value: Any) -> set[int] | None:
    """The sides a crop value makes: {s} for an int or a square pair."""
    if isinstance(value, int) and not isinstance(value, bool):
        return {value}
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return set(value)
    return None


def input_spec_errors(data: dict[str, Any], file: str | None = None) -> list[RecipeError]:
    """Recipe values that contradict the model's InputSpec: mean/std on the 0-1 scale, and
    for a fixed-size model a crop or clip length other than the one it takes. Also a
    factory whose ``input_spec`` itself fails (e.g. a missing optional dependency)."""
    errors: list[RecipeError] = []
    for key, table in _model_tables(data.get("model")):
        spec_of = getattr(_factory("models", table), "input_spec", None)
        if callable(spec_of):
            try:
                spec_of({k: v for k, v in table.items() if k != "type"})
            except ZeldaError as exc:
                errors.append(RecipeError(str(exc), file=file, key=key))
            except ValueError as exc:
                errors.append(RecipeError(f"{exc} (type '{table['type']}')", file=file, key=key))
    found = model_input_spec(data)
    if found is None:
        return errors
    _, spec = found
    for key, table in _model_tables(data.get("model")):
        for name in ("mean", "std"):
            expected = getattr(spec, name)
            problem = _scale_problem(table.get(name), expected) if expected else None
            if problem:
                errors.append(RecipeError(
                    f"{name} = {table[name]} {problem}: use {[round(v, 3) for v in expected]} "
                    f"({spec.source}), or leave {name} out to follow the model",
                    file=file, key=f"{key}.{name}"))
    if spec.fixed_size:
        want = {"crop": spec.crop, "frames": spec.frames}
        for key, step, params in _steps(data):
            for name, (param, *_) in params.items():
                if name not in want or want[name] is None or param not in step:
                    continue
                given = step[param]
                ok = given == want[name] if name == "frames" else _size_of(given) == {want[name]}
                if not ok:
                    errors.append(RecipeError(
                        f"{param} = {given!r}, but the model ({data['model'].get('type')}, "
                        f"{spec.source}) takes only {spec.frames}x{spec.crop}x{spec.crop} clips "
                        f"(its positional embeddings are built for that size): set {param} = "
                        f"{want[name]} or leave it out to follow the model",
                        file=file, key=f"{key}.{param}"))
    return errors


def input_spec_warnings(data: dict[str, Any]) -> list[str]:
    """Values that differ from the model's InputSpec but still run (e.g. another mean)."""
    found = model_input_spec(data)
    if found is None:
        return []
    _, spec = found
    out = []
    for key, table in _model_tables(data.get("model")):
        for name in ("mean", "std"):
            expected, given = getattr(spec, name), table.get(name)
            if expected and given is not None and _scale_problem(given, expected) is None \
                    and not _close(given, list(expected)):
                out.append(f"{key}.{name} = {given} differs from {[round(v, 3) for v in expected]} "
                           f"that {spec.source} was trained with")
    return out
