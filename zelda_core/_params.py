"""Check a recipe table's parameters against a factory's signature, before building.

The checks are deliberately simple and strict where the factory is explicit: unknown
and missing parameters, and values whose type contradicts an annotation.
"""

from __future__ import annotations

import collections.abc as cabc
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any


def signature_of(factory: Callable[..., Any]) -> inspect.Signature | None:
    """The call signature (a class's ``__init__`` without self), or None if unknown."""
    try:
        return inspect.signature(factory)
    except (TypeError, ValueError):
        return None


def accepted_params(sig: inspect.Signature) -> list[str]:
    """Names a recipe may set: keyword-passable parameters."""
    return [
        p.name
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def describe_params(sig: inspect.Signature, injected: typing.Iterable[str] = ()) -> str:
    """``a, b=1, c`` listing for error messages, without engine-injected names."""
    skip = set(injected)
    out = []
    for p in sig.parameters.values():
        if p.name in skip or p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            continue
        out.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return ", ".join(out) or "(none)"


def _hints(factory: Callable[..., Any]) -> dict[str, Any]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # unresolvable forward references: check nothing rather than guess
        return {}


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def value_matches(value: Any, tp: Any) -> bool:
    """Whether a TOML value can be passed where ``tp`` is annotated (lenient on unknowns)."""
    if tp is Any or tp is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(value_matches(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin in (list, tuple, cabc.Sequence, cabc.Iterable, cabc.Collection) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(args) == len(value) and all(value_matches(v, a) for v, a in zip(value, args))
        inner = args[0] if args else Any
        return all(value_matches(v, inner) for v in value)
    if origin in (dict, cabc.Mapping) or tp is dict:
        return isinstance(value, dict)
    return True  # classes, protocols, callables: the factory itself will judge


def check_params(
    factory: Callable[..., Any],
    params: dict[str, Any],
    injected: typing.Iterable[str] = (),
) -> list[str]:
    """Problems with calling ``factory(**params, **injected)``, as sentences."""
    return [sentence for _, sentence in param_problems(factory, params, injected)]


def param_problems(
    factory: Callable[..., Any],
    params: dict[str, Any],
    injected: typing.Iterable[str] = (),
) -> list[tuple[str, str]]:
    """Like :func:`check_params`, each sentence with the parameter it is about."""
    import difflib

    sig = signature_of(factory)
    if sig is None:
        return []
    injected = set(injected)
    names = accepted_params(sig)
    has_var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    problems = []
    accepted = describe_params(sig, injected)
    unknown = [k for k in params if k not in names and not has_var_kw]
    for k in unknown:
        hint = difflib.get_close_matches(k, [n for n in names if n not in injected], n=1)
        problems.append((k, f"unknown parameter '{k}'" + (f"; did you mean '{hint[0]}'?" if hint else "")
                         + f"; accepted parameters: {accepted}"))
    for p in sig.parameters.values():
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) or p.default is not p.empty:
            continue
        if p.name not in params and p.name not in injected:
            problems.append((p.name, f"missing parameter '{p.name}'; accepted parameters: {accepted}"))
    hints = _hints(factory)
    for k, v in params.items():
        if k in hints and k not in unknown and not (isinstance(v, dict) and "type" in v):
            if not value_matches(v, hints[k]):
                problems.append((k,
                    f"parameter '{k}' expects {_type_name(hints[k])}, got {type(v).__name__} {v!r}"
                ))
    return problems
