"""The plugin manager: discovers plugins in the ``zelda`` entry-point group.

Bundled plugins are found exactly like third-party ones. Loading happens on first need,
never at ``import zelda_core``. A plugin that fails to import is recorded and reported;
the others keep working (``ZELDA_STRICT_PLUGINS=1`` makes it an error).
``ZELDA_DISABLE_PLUGINS=a,b`` blocks plugins, by entry-point or distribution name,
before they are imported.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from ._errors import PluginError

ENTRY_POINT_GROUP = "zelda"
KINDS = ("decoders", "transforms", "datasets", "models", "metrics")
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


@dataclass
class PluginInfo:
    """What ``zelda plugins`` shows for one plugin."""

    name: str
    dist: str
    version: str
    status: str  # "active", "disabled" or "failed"
    error: str | None = None
    components: dict[str, list[str]] = field(default_factory=dict)


def _env_list(name: str) -> set[str]:
    return {p.strip() for p in os.environ.get(name, "").split(",") if p.strip()}


def _strict() -> bool:
    return os.environ.get("ZELDA_STRICT_PLUGINS", "") not in ("", "0", "false", "no")


class PluginManager:
    """pluggy's manager plus the component table of every kind."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("zelda")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.components: dict[str, dict[str, Component]] = {k: {} for k in KINDS}
        self.commands: list[PluginCommand] = []
        self.failure_tracebacks: dict[str, str] = {}
        self._loaded = False

    # -- loading ---------------------------------------------------------------
    def load_entry_points(self) -> None:
        """Import every plugin of the ``zelda`` group, once."""
        if self._loaded:
            return
        self._loaded = True
        disabled = _env_list("ZELDA_DISABLE_PLUGINS")
        seen: set[str] = set()
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if ep.name in seen:  # the same distribution found twice on sys.path
                continue
            seen.add(ep.name)
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            if ep.name in disabled or dist in disabled:
                self.pm.set_blocked(ep.name)
                self.plugins[ep.name] = PluginInfo(ep.name, dist, version, "disabled")
                continue
            try:
                module = ep.load()
            except Exception as exc:  # any import failure of a plugin is the plugin's
                self._fail(ep.name, dist, version, exc)
                continue
            self.add_plugin(module, ep.name, dist=dist, version=version)

    def add_plugin(self, module: ModuleType | object, name: str, *, dist: str = "",
                   version: str = "") -> None:
        """Register an imported plugin object and collect its components."""
        if name in _env_list("ZELDA_DISABLE_PLUGINS"):
            self.plugins[name] = PluginInfo(name, dist or name, version, "disabled")
            return
        info = PluginInfo(name, dist or name, version or "", "active")
        self.plugins[name] = info
        try:
            self.pm.register(module, name=name)
            self._check_hooks(name)
            for kind in (*KINDS, "commands"):
                register = (self._command_registrar(info) if kind == "commands"
                            else self._registrar(kind, info))
                self._hook_of(f"register_{kind}", name)(register=register)
        except PluginError:
            raise
        except Exception as exc:  # anything a plugin does wrong stays that plugin's problem
            if self.pm.is_registered(module):
                self.pm.unregister(name=name)
            for table in self.components.values():
                for key in [k for k, c in table.items() if c.plugin == name]:
                    del table[key]
            self.commands = [c for c in self.commands if c.plugin != name]
            info.components.clear()
            self._fail(name, info.dist, info.version, exc)

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
                f"plugin '{name}' implements unknown hook '{caller.name}'.{hint} "
                f"Known hooks: {', '.join(known)}."
            )

    def _command_registrar(self, info: PluginInfo) -> Callable[..., None]:
        def register(module: str, *, group: str | None = None) -> None:
            if not isinstance(module, str) or not module:
                raise TypeError(f"a command is registered by its module path, got {module!r}")
            if group not in COMMAND_GROUPS:
                raise TypeError(f"command group must be one of {COMMAND_GROUPS}, got {group!r}")
            self.commands.append(PluginCommand(module, group, info.name, info.dist))
            info.components.setdefault("commands", []).append(module)

        return register

    def _registrar(self, kind: str, info: PluginInfo) -> Callable[..., None]:
        def register(name: str, factory: Callable[..., Any] | str, *, help: str | None = None) -> None:
            if not isinstance(name, str) or not name:
                raise TypeError(f"component name must be a non-empty string, got {name!r}")
            if isinstance(factory, str) and ":" not in factory:
                raise TypeError(f"lazy factory {factory!r} must look like 'module:attr'")
            other = self.components[kind].get(name)
            if other is not None:
                raise PluginError(
                    f"two plugins register the {kind[:-1]} '{name}': plugin '{other.plugin}' "
                    f"(distribution {other.dist} {other.version}) and plugin '{info.name}' "
                    f"(distribution {info.dist} {info.version}). Disable one with "
                    f"ZELDA_DISABLE_PLUGINS={info.name} (or ={other.plugin}), or uninstall "
                    f"one distribution with pip uninstall."
                )
            self.components[kind][name] = Component(
                kind, name, factory, info.name, info.dist, info.version, help
            )
            info.components.setdefault(kind, []).append(name)

        return register

    def _fail(self, name: str, dist: str, version: str, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        self.plugins[name] = PluginInfo(name, dist, version, "failed", error=reason)
        if _strict():
            raise PluginError(
                f"plugin '{name}' ({dist} {version}) failed to load: {reason}. "
                f"ZELDA_STRICT_PLUGINS is set, so this is an error; unset it to continue "
                f"without the plugin, or disable it with ZELDA_DISABLE_PLUGINS={name}."
            ) from exc
        self.failure_tracebacks[name] = "".join(traceback.format_exception(exc))

    # -- queries ---------------------------------------------------------------
    def failed(self) -> list[PluginInfo]:
        """Plugins that failed to load."""
        return [p for p in self.plugins.values() if p.status == "failed"]


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
