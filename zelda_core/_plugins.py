"""The plugin manager: discovers plugins in the ``zelda`` entry-point group.

Bundled plugins are found exactly like third-party ones. Loading happens on first need,
never at ``import zelda_core``. Whatever a plugin does wrong (an import error, a bad hook
signature, a misspelled hook, an exception inside a hook, an entry-point name another
distribution already uses) is contained to that plugin: it is recorded with its name and
distribution and reported, and the others keep working (``ZELDA_STRICT_PLUGINS=1`` makes
each of these an error). Two plugins registering the same kind and name are a *conflict*:
only a recipe naming that component fails, with the ways to choose.

Choosing plugins, by entry-point or distribution name (``-``/``_`` and case don't matter):
``ZELDA_DISABLE_PLUGINS=a,b`` blocks plugins before they are imported (``zelda
--disable-plugin NAME`` adds to it); ``ZELDA_PLUGINS=a,b`` loads only those (an empty
value loads none). Names that match nothing are warned about.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from ._errors import PluginError

ENTRY_POINT_GROUP = "zelda"
KINDS = ("decoders", "transforms", "datasets", "models", "metrics", "batch_transforms", "loggers")
COMMAND_GROUPS = (None, "bench", "data")
"""Where a plugin's command may go: top level, ``zelda bench ...`` or ``zelda data ...``."""


@dataclass
class PluginCommand:
    """A subcommand a plugin registered (``register_commands``)."""

    module: str
    group: str | None
    plugin: str
    dist: str


@dataclass
class Component:
    """One registered name: its factory and who provided it."""

    kind: str
    name: str
    factory: Callable[..., Any] | str
    plugin: str
    dist: str
    version: str
    help: str | None = None

    @property
    def provider(self) -> str:
        """``plugin 'p' (dist version)``, for messages."""
        return f"plugin '{self.plugin}' ({self.dist} {self.version})".replace(" )", ")")


@dataclass
class PluginInfo:
    """What ``zelda plugins`` shows for one plugin."""

    name: str
    dist: str
    version: str
    status: str
    """"imported" (loaded, components not imported yet), "usable" / "unusable" (after
    ``_registry.check_components``), "disabled" or "failed"."""
    error: str | None = None
    components: dict[str, list[str]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    """``kind:name`` -> why that component cannot be used (filled by the check)."""

    @property
    def loaded(self) -> bool:
        """Imported and registered (whatever the check said about its components)."""
        return self.status in ("imported", "usable", "unusable")


def norm(name: str) -> str:
    """A plugin or distribution name compared the way pip compares names."""
    return name.strip().lower().replace("-", "_").replace(".", "_")


def _env_list(name: str) -> set[str]:
    return {p.strip() for p in os.environ.get(name, "").split(",") if p.strip()}


def _allowlist() -> set[str] | None:
    """``ZELDA_PLUGINS``: None when unset (load all), else the names to load (maybe none)."""
    if "ZELDA_PLUGINS" not in os.environ:
        return None
    return _env_list("ZELDA_PLUGINS")


def strict() -> bool:
    """Whether ``ZELDA_STRICT_PLUGINS`` turns plugin failures into errors."""
    return os.environ.get("ZELDA_STRICT_PLUGINS", "") not in ("", "0", "false", "no")


def disable_hint(plugin: str) -> str:
    """How to run without ``plugin``, for messages."""
    return f"zelda --disable-plugin {plugin} ... (or ZELDA_DISABLE_PLUGINS={plugin})"


def _warn(message: str) -> None:
    print(f"zelda: warning: {message}", file=sys.stderr)


class PluginManager:
    """pluggy's manager plus the component table of every kind."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("zelda")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.providers: dict[str, dict[str, list[Component]]] = {k: {} for k in KINDS}
        """Every registration, per kind and name (more than one: a conflict)."""
        self.components: dict[str, dict[str, Component]] = {k: {} for k in KINDS}
        """The names exactly one plugin provides."""
        self.commands: list[PluginCommand] = []
        self.failure_tracebacks: dict[str, str] = {}
        self.warnings: list[str] = []
        self._loaded = False

    # -- loading ---------------------------------------------------------------
    def load_entry_points(self) -> None:
        """Import every plugin of the ``zelda`` group, once."""
        if self._loaded:
            return
        self._loaded = True
        disabled = {norm(n): n for n in _env_list("ZELDA_DISABLE_PLUGINS")}
        allow = _allowlist()
        allowed = {norm(n): n for n in allow or ()}
        matched: set[str] = set()
        owner: dict[str, str] = {}  # entry-point name -> distribution that has it
        eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
        for ep in sorted(eps, key=lambda e: (e.name, e.dist.name if e.dist else "")):
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            if ep.name in owner:
                if norm(owner[ep.name]) != norm(dist):
                    self._clash(ep.name, dist, version, owner[ep.name])
                continue  # else: the same distribution found twice on sys.path
            owner[ep.name] = dist
            keys = {norm(ep.name), norm(dist)}
            matched |= keys & (set(disabled) | set(allowed))
            if keys & set(disabled) or (allow is not None and not keys & set(allowed)):
                self.pm.set_blocked(ep.name)
                why = ("ZELDA_DISABLE_PLUGINS or --disable-plugin" if keys & set(disabled)
                       else "not in ZELDA_PLUGINS")
                self.plugins[ep.name] = PluginInfo(ep.name, dist, version, "disabled", error=why)
                continue
            try:
                module = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # any import failure, sys.exit() included, is the plugin's
                self._fail(ep.name, dist, version, exc)
                continue
            self.add_plugin(module, ep.name, dist=dist, version=version)
        for var, names in (("ZELDA_DISABLE_PLUGINS", disabled), ("ZELDA_PLUGINS", allowed)):
            unknown = sorted(n for k, n in names.items() if k not in matched)
            if unknown:
                self._warning(
                    f"{var} names {', '.join(repr(n) for n in unknown)}, which matches no "
                    f"installed plugin or distribution. Installed plugins: "
                    f"{', '.join(sorted(owner)) or '(none)'} ('zelda plugins' lists them "
                    f"with their distributions).")

    def add_plugin(self, module: ModuleType | object, name: str, *, dist: str = "",
                   version: str = "") -> None:
        """Register an imported plugin object and collect its components.

        Everything the plugin registers is staged and kept only if all of its hooks
        succeed, so a failing plugin leaves nothing behind."""
        if norm(name) in {norm(n) for n in _env_list("ZELDA_DISABLE_PLUGINS")}:
            self.plugins[name] = PluginInfo(name, dist or name, version, "disabled")
            return
        info = PluginInfo(name, dist or name, version or "", "imported")
        self.plugins[name] = info
        staged: list[Component] = []
        commands: list[PluginCommand] = []
        try:
            self.pm.register(module, name=name)  # a bad hook signature fails here
            self._check_hooks(name)
            for kind in (*KINDS, "commands"):
                register = (self._command_registrar(info, commands) if kind == "commands"
                            else self._registrar(kind, info, staged))
                self._hook_of(f"register_{kind}", name)(register=register)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # anything a plugin does wrong (sys.exit too) stays its own
            if self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
            self._fail(name, info.dist, info.version, exc)
            return
        for comp in staged:
            self.providers[comp.kind].setdefault(comp.name, []).append(comp)
            info.components.setdefault(comp.kind, []).append(comp.name)
            table = self.components[comp.kind]
            if len(self.providers[comp.kind][comp.name]) == 1:
                table[comp.name] = comp
            else:  # a conflict: nobody gets the plain name
                table.pop(comp.name, None)
        for cmd in commands:
            self.commands.append(cmd)
            info.components.setdefault("commands", []).append(cmd.module)

    def _hook_of(self, hook: str, plugin: str) -> Callable[..., Any]:
        """The hook called through pluggy for one plugin alone (so what it registers is
        attributed to it, and its exceptions are its own)."""
        others = [p for n, p in self.pm.list_name_plugin() if n != plugin and p is not None]
        return self.pm.subset_hook_caller(hook, remove_plugins=others)

    def _check_hooks(self, name: str) -> None:
        """pluggy's check_pending for one plugin: a hook implementation with no spec is a
        misspelled hook, which would otherwise register nothing silently."""
        import difflib

        plugin = self.pm.get_plugin(name)
        for caller in self.pm.get_hookcallers(plugin) or []:
            if caller.has_spec():
                continue
            impls = [i for i in caller.get_hookimpls() if i.plugin_name == name]
            if all(i.optionalhook for i in impls):
                continue
            known = [h for h in dir(hookspecs) if h.startswith("register_")]
            close = difflib.get_close_matches(caller.name, known, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise PluginError(
                f"it implements unknown hook '{caller.name}'.{hint} "
                f"Known hooks: {', '.join(known)}."
            )

    def _command_registrar(self, info: PluginInfo,
                           staged: list[PluginCommand]) -> Callable[..., None]:
        def register(module: str, *, group: str | None = None) -> None:
            if not isinstance(module, str) or not module:
                raise TypeError(f"a command is registered by its module path, got {module!r}")
            if group not in COMMAND_GROUPS:
                raise TypeError(f"command group must be one of {COMMAND_GROUPS}, got {group!r}")
            staged.append(PluginCommand(module, group, info.name, info.dist))

        return register

    def _registrar(self, kind: str, info: PluginInfo,
                   staged: list[Component]) -> Callable[..., None]:
        def register(name: str, factory: Callable[..., Any] | str, *,
                     help: str | None = None) -> None:
            if not isinstance(name, str) or not name or ":" in name:
                raise TypeError(f"component name must be a non-empty string without ':', "
                                f"got {name!r}")
            if isinstance(factory, str):
                if factory.count(":") != 1 or not all(factory.split(":")):
                    raise TypeError(f"lazy factory {factory!r} must look like 'module:attr'")
            elif not callable(factory):
                raise TypeError(f"the factory of {kind[:-1]} '{name}' is not callable: "
                                f"{type(factory).__name__} {factory!r}")
            if any(c.kind == kind and c.name == name for c in staged):
                raise TypeError(f"it registers the {kind[:-1]} '{name}' twice")
            staged.append(Component(kind, name, factory, info.name, info.dist, info.version,
                                    help))

        return register

    def _clash(self, name: str, dist: str, version: str, first: str) -> None:
        """An entry-point name that another distribution already uses: not loaded."""
        key = f"{name} ({dist})"
        exc = PluginError(
            f"its entry-point name '{name}' is already used by distribution {first}, so it "
            f"is not loaded. The authors should rename one entry point (the convention is "
            f"the top-level import package, see docs/plugins.md); meanwhile use "
            f"ZELDA_DISABLE_PLUGINS={first} to load this one instead.")
        self._fail(key, dist, version, exc, display=name)

    def _fail(self, name: str, dist: str, version: str, exc: BaseException, *,
              display: str | None = None) -> None:
        if isinstance(exc, SystemExit):
            reason = f"it called sys.exit({exc.code!r}) while loading (SystemExit)"
        else:
            reason = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
        reason = " ".join(reason.split())  # pluggy's validation errors span several lines
        self.plugins[name] = PluginInfo(display or name, dist, version, "failed", error=reason)
        self.failure_tracebacks[name] = "".join(traceback.format_exception(exc))
        if strict():
            raise PluginError(
                f"plugin '{display or name}' ({dist} {version}) failed to load: {reason.rstrip('.')}. "
                f"ZELDA_STRICT_PLUGINS is set, so this is an error; unset it to continue "
                f"without the plugin, or disable it: {disable_hint(display or name)}."
            ) from exc

    def _warning(self, message: str) -> None:
        self.warnings.append(message)
        _warn(message)

    # -- queries ---------------------------------------------------------------
    def failed(self) -> list[PluginInfo]:
        """Plugins that failed to load."""
        return [p for p in self.plugins.values() if p.status == "failed"]

    def disabled(self) -> list[PluginInfo]:
        """Plugins blocked by ZELDA_DISABLE_PLUGINS, --disable-plugin or ZELDA_PLUGINS."""
        return [p for p in self.plugins.values() if p.status == "disabled"]

    def conflicts(self) -> list[tuple[str, str, list[Component]]]:
        """(kind, name, providers) for every name more than one plugin registers."""
        return [(kind, name, comps) for kind in KINDS
                for name, comps in sorted(self.providers[kind].items()) if len(comps) > 1]

    @staticmethod
    def conflict_message(kind: str, name: str, comps: Iterable[Component], *,
                         short: bool = False) -> str:
        """Who provides the contested ``name`` and how to choose."""
        comps = list(comps)
        who = " and ".join(c.provider for c in comps)
        msg = f"the {kind[:-1]} '{name}' is registered by {who}."
        if short:
            return msg + " A recipe that uses it must choose one (see 'zelda plugins')."
        qualified = " or ".join(f'"{c.dist}:{name}"' for c in comps)
        disable = " or ".join(f"ZELDA_DISABLE_PLUGINS={c.plugin}" for c in comps)
        return (msg + f" Choose one: qualify the name, type = {qualified} (a plugin name "
                f"works too, e.g. \"{comps[0].plugin}:{name}\"), or disable one plugin "
                f"({disable}, or zelda --disable-plugin NAME).")

    def lookup(self, kind: str, name: str) -> list[Component]:
        """Components of ``kind`` a (possibly qualified ``plugin-or-dist:name``) type names."""
        qualifier, sep, bare = name.rpartition(":")
        if not sep:
            return list(self.providers[kind].get(name, []))
        q = norm(qualifier)
        return [c for c in self.providers[kind].get(bare, [])
                if q in (norm(c.plugin), norm(c.dist))]


_manager: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide manager, with entry points loaded on first call."""
    global _manager
    if _manager is None:
        _manager = PluginManager()
        try:
            _manager.load_entry_points()
        except BaseException:
            _manager = None
            raise
    return _manager


def reset_plugin_manager() -> None:
    """Forget loaded plugins (tests, or after changing ZELDA_* variables)."""
    global _manager
    _manager = None
