"""Look up components by kind and name, check recipe tables and build them.

A recipe table is ``{type = "name", ...params}``. ``check`` finds every problem
before anything heavy runs; ``build`` checks, then calls the factory.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable
from typing import Any

from ._errors import PluginError, RecipeError, ZeldaError
from ._params import check_params
from ._plugins import KINDS, Component, PluginManager, get_plugin_manager, strict

NESTED_KINDS = {"models"}
"""Kinds whose nested typed tables are built first, as the same kind, and passed in."""


_PROVENANCE: dict[str, str] = {}
"""``"kind:name"`` -> ``"dist==version"`` of components named by a loaded checkpoint or
resolved recipe, so a missing one's error says what to install."""


def remember_provenance(versions: Any) -> None:
    """Note which distribution provided each component of a checkpoint/resolved recipe
    (its ``versions`` table, see ``zelda_core._recipe.versions``)."""
    table = versions.get("components") if isinstance(versions, dict) else None
    if isinstance(table, dict):
        _PROVENANCE.update({str(k): str(v) for k, v in table.items()})


def used_provenance(names: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``"kind:name"`` -> ``"dist==version"`` for the given (kind, type) pairs that resolve."""
    pm = get_plugin_manager()
    out = {}
    for kind, name in names:
        found = pm.lookup(kind, name) if kind in KINDS else []
        if len(found) == 1 and found[0].dist and found[0].version:
            out[f"{kind}:{name}"] = f"{found[0].dist}=={found[0].version}"
    return out


_BUILT: dict[tuple[str, str], None] = {}
"""(kind, type) of every component built in this process, in order."""


def built_components() -> list[tuple[str, str]]:
    """(kind, type) of the components built so far (for checkpoint provenance)."""
    return list(_BUILT)


def components(kind: str) -> dict[str, Component]:
    """The components of ``kind`` exactly one plugin registers (contested names are left
    out; see ``get_plugin_manager().conflicts()``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}")
    return get_plugin_manager().components[kind]


def get_component(kind: str, name: str, *, key: str | None = None, file: str | None = None) -> Component:
    """The component a type names (``name`` or qualified ``plugin-or-dist:name``), or a
    RecipeError that says what to do."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; kinds are {', '.join(KINDS)}")
    pm = get_plugin_manager()
    found = pm.lookup(kind, name)
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise RecipeError(pm.conflict_message(kind, name.rpartition(":")[2], found),
                          file=file, key=key)
    raise RecipeError(_unknown_message(pm, kind, name), file=file, key=key)


def _unknown_message(pm: Any, kind: str, name: str) -> str:
    qualifier, _, bare = name.rpartition(":")
    table = {n for n, comps in pm.providers[kind].items() if comps}
    if qualifier and bare in table:
        who = " and ".join(c.provider for c in pm.providers[kind][bare])
        msg = (f"no plugin or distribution '{qualifier}' provides the {kind[:-1]} '{bare}'; "
               f"it is registered by {who}.")
    else:
        msg = f"unknown {kind[:-1]} type '{name}'."
        close = difflib.get_close_matches(bare, sorted(table), n=3, cutoff=0.5)
        if close:
            msg += " Did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
        msg += f" Known {kind}: {', '.join(sorted(table)) or '(none)'}."
    origin = _PROVENANCE.get(f"{kind}:{bare}") or _PROVENANCE.get(f"{kind}:{name}")
    if origin:
        msg += (f" The checkpoint or resolved recipe says it came from {origin}: "
                f"'pip install {origin}' installs it.")
    failed = pm.failed()
    if failed:
        msg += " Plugins that failed to load (they may provide it): " + "; ".join(
            f"{p.name} {p.version} ({p.error})" for p in failed
        ) + "."
    disabled = pm.disabled()
    if disabled:
        msg += " Disabled plugins (they may provide it): " + ", ".join(
            f"{p.name} ({p.dist} {p.version}: {p.error or 'disabled'})" for p in disabled
        ) + "."
    return msg + " Run 'zelda plugins' to see what is installed."


class ComponentImportError(PluginError):
    """A lazy ``module:attr`` factory that does not import.

    ``broken``: the plugin itself is wrong (its module or attribute does not exist, or
    the module raises); otherwise a dependency of the component is missing and the
    component is merely unusable here. ``reason`` is the short cause."""

    def __init__(self, message: str, reason: str, broken: bool):
        super().__init__(message)
        self.reason, self.broken = reason, broken


def resolve_factory(component: Component) -> Callable[..., Any]:
    """The callable behind a component, importing a lazy ``module:attr`` now.

    Any import failure (an exception of any kind, ``sys.exit()`` included) is a
    ComponentImportError: ``broken`` when the plugin's own code is wrong, merely unusable
    when a library it imports is missing or itself fails to import (a broken install)."""
    factory = component.factory
    if not isinstance(factory, str):
        return factory
    module_name, _, attr = factory.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except KeyboardInterrupt:
        raise
    except ModuleNotFoundError as exc:
        own = exc.name is not None and (module_name == exc.name
                                        or module_name.startswith(exc.name + "."))
        reason = (f"its module {module_name!r} does not exist" if own else
                  f"it needs the missing module {exc.name!r} (pip install it)")
        raise _import_error(component, reason, broken=own) from exc
    except ImportError as exc:
        raise _import_error(component, f"ImportError: {exc}", broken=False) from exc
    except ZeldaError as exc:  # the plugin's own word on what is missing (an install hint)
        raise _import_error(component, str(exc).rstrip("."), broken=False) from exc
    except BaseException as exc:
        culprit = _failing_module(exc)
        ours = culprit is None or culprit.split(".")[0] == module_name.split(".")[0]
        where = "" if ours else f" in the library {culprit.split('.')[0]!r} it imports"
        raise _import_error(component, f"importing {module_name!r} raised "
                            f"{type(exc).__name__}{where}: {exc}", broken=ours) from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise _import_error(component, f"{factory!r} does not resolve: module "
                                f"{module_name!r} has no attribute {attr!r}",
                                broken=True) from exc
    component.factory = obj
    return obj


def _failing_module(exc: BaseException) -> str | None:
    """The module whose code raised ``exc`` (its innermost frame outside importlib)."""
    tb, name = exc.__traceback__, None
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__")
        if isinstance(module, str) and not module.startswith(("importlib", "_frozen_importlib")):
            name = module
        tb = tb.tb_next
    return name


def _import_error(component: Component, reason: str, *, broken: bool) -> ComponentImportError:
    return ComponentImportError(
        f"the {component.kind[:-1]} '{component.name}' of {component.provider} cannot be "
        f"imported from {component.factory!r}: {reason}.", reason, broken)


def check_components(pm: PluginManager | None = None) -> list[str]:
    """Import every lazy factory of ``pm`` (default: the process-wide manager): plugins
    become "usable" or "unusable" (a component's own dependency is missing: the reason is
    recorded). A ``module:attr`` that does not resolve is a broken plugin: returned as a
    problem (an error under strict mode)."""
    pm = pm or get_plugin_manager()
    problems = []
    for kind in KINDS:
        for comps in pm.providers[kind].values():
            for comp in comps:
                info = pm.plugins[comp.plugin]
                try:
                    resolve_factory(comp)
                except ComponentImportError as exc:
                    info.problems[f"{kind}:{comp.name}"] = exc.reason
                    if exc.broken:
                        problems.append(str(exc))
    for info in pm.plugins.values():
        if info.loaded:
            info.status = "unusable" if info.problems else "usable"
    if problems and strict():
        raise PluginError(" ".join(problems) + " ZELDA_STRICT_PLUGINS is set, so this "
                          "is an error.")
    return problems


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
        component = get_component(kind, name, key=key, file=file)
        factory = resolve_factory(component)
    except RecipeError as exc:
        return [exc]
    except ComponentImportError as exc:  # this component's problem, reported at its key
        error = RecipeError(str(exc), file=file, key=key)
        error.root_cause = True  # other problems may follow from it: listed first
        return [error]
    if not callable(factory):
        return [RecipeError(
            f"the {kind[:-1]} '{name}' of {component.provider} is not usable: its factory "
            f"is {type(factory).__name__} {factory!r}, not a class or function. "
            f"This is a bug in that plugin; disable it (ZELDA_DISABLE_PLUGINS="
            f"{component.plugin}) or report it to its authors.", file=file, key=key)]
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
    component = get_component(kind, name)
    factory = resolve_factory(component)
    _BUILT[(kind, name)] = None
    try:
        obj = factory(**params, **injected)
    except ZeldaError:
        raise
    except ValueError as exc:  # a factory rejecting a value is the recipe's problem
        raise RecipeError(f"{exc} (type '{name}')", file=file, key=key) from exc
    except Exception as exc:  # anything else is the plugin's: say whose, and where
        if kind == "decoders" and "path" in injected:  # per video: stays skippable
            from ._errors import DecodeError

            raise DecodeError(injected["path"], f"the decoder '{name}' of "
                              f"{component.provider} failed with {type(exc).__name__}: "
                              f"{exc}") from exc
        where = ", ".join(p for p in (file, f"key '{key}'" if key else None) if p)
        raise PluginError(
            f"{where + ': ' if where else ''}building the {kind[:-1]} '{name}' of "
            f"{component.provider} failed with {type(exc).__name__}: {exc}. This is a bug "
            f"in that plugin (a value it should reject raises ValueError); run with --debug "
            f"for the traceback, or disable it with ZELDA_DISABLE_PLUGINS={component.plugin}."
        ) from exc
    if kind != "decoders":  # per video: not worth remembering
        from ._contracts import remember

        remember(obj, kind, name, component.provider, component.plugin)
    return obj
