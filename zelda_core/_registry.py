"""Look up components by kind and name, check recipe tables and build them.

A recipe table is ``{type = "name", ...params}``. ``check`` finds every problem
before anything heavy runs; ``build`` checks, then calls the factory.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable
from typing import Any

from ._errors import PluginError, RecipeError
from ._params import check_params
from ._plugins import KINDS, Component, get_plugin_manager

NESTED_KINDS = {"models"}
"""Kinds whose nested typed tables are built first, as the same kind, and passed in."""


def components(kind: str) -> dict[str, Component]:
    """All registered components of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}")
    return get_plugin_manager().components[kind]


def get_component(kind: str, name: str, *, key: str | None = None, file: str | None = None) -> Component:
    """The component ``name`` of ``kind``, or a RecipeError that says what to do."""
    table = components(kind)
    if name in table:
        return table[name]
    msg = f"unknown {kind[:-1]} type '{name}'."
    close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
    if close:
        msg += " Did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    msg += f" Known {kind}: {', '.join(sorted(table)) or '(none)'}."
    failed = get_plugin_manager().failed()
    if failed:
        msg += " Plugins that failed to load (they may provide it): " + "; ".join(
            f"{p.name} {p.version} ({p.error})" for p in failed
        ) + "."
    msg += " Run 'zelda plugins' to see what is installed."
    raise RecipeError(msg, file=file, key=key)


def resolve_factory(component: Component) -> Callable[..., Any]:
    """The callable behind a component, importing a lazy ``module:attr`` now."""
    factory = component.factory
    if not isinstance(factory, str):
        return factory
    module_name, _, attr = factory.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:
        raise PluginError(
            f"the {component.kind[:-1]} '{component.name}' of plugin '{component.plugin}' "
            f"({component.dist} {component.version}) cannot be imported from {factory!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    component.factory = obj
    return obj


def _split(table: Any, kind: str, key: str | None, file: str | None) -> tuple[str, dict[str, Any]]:
    if not isinstance(table, dict):
        raise RecipeError(
            f"expected a table like {{type = \"name\", ...}} for a {kind[:-1]}, got {table!r}",
            file=file, key=key,
        )
    if "type" not in table:
        raise RecipeError(
            f"this {kind[:-1]} table has no 'type'; set type to one of: "
            f"{', '.join(sorted(components(kind)))}",
            file=file, key=key,
        )
    name = table["type"]
    if not isinstance(name, str):
        raise RecipeError(f"'type' must be a string, got {name!r}", file=file, key=key)
    return name, {k: v for k, v in table.items() if k != "type"}


def _child_key(key: str | None, name: str) -> str:
    return f"{key}.{name}" if key else name


def check(kind: str, table: Any, *, key: str | None = None, file: str | None = None,
          injected: Iterable[str] = ()) -> list[RecipeError]:
    """Every problem with ``table`` as a ``kind``, without building anything heavy."""
    try:
        name, params = _split(table, kind, key, file)
        factory = resolve_factory(get_component(kind, name, key=key, file=file))
    except RecipeError as exc:
        return [exc]
    errors = [
        RecipeError(f"{problem} (type '{name}')", file=file, key=key)
        for problem in check_params(factory, params, injected)
    ]
    if kind in NESTED_KINDS:
        for pname, value in params.items():
            if isinstance(value, dict) and "type" in value:
                errors += check(kind, value, key=_child_key(key, pname), file=file)
    return errors


def build(kind: str, table: dict[str, Any], *, key: str | None = None, file: str | None = None,
          **injected: Any) -> Any:
    """Check ``table`` and call its factory with the params plus ``injected``."""
    errors = check(kind, table, key=key, file=file, injected=injected)
    if errors:
        raise errors[0] if len(errors) == 1 else RecipeError(
            "\n".join(f"- {e}" for e in errors), file=None, key=None
        )
    name, params = _split(table, kind, key, file)
    if kind in NESTED_KINDS:
        params = {
            k: build(kind, v, key=_child_key(key, k), file=file)
            if isinstance(v, dict) and "type" in v else v
            for k, v in params.items()
        }
    factory = resolve_factory(get_component(kind, name))
    try:
        return factory(**params, **injected)
    except ValueError as exc:  # a factory rejecting a value is the recipe's problem
        raise RecipeError(f"{exc} (type '{name}')", file=file, key=key) from exc
