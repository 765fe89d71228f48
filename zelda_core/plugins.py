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
from .errors import PluginError

ENTRY_POINT_GROUP = "zelda"
KINDS = ("decoders", "transforms", "datasets", "models", "metrics")


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
        self.pm.register(module, name=name)
        try:
            for kind in KINDS:
                for impl in getattr(self.pm.hook, f"register_{kind}").get_hookimpls():
                    if impl.plugin_name == name:
                        impl.function(register=self._registrar(kind, info))
        except PluginError:
            raise
        except Exception as exc:
            self.pm.unregister(name=name)
            for table in self.components.values():
                for key in [k for k, c in table.items() if c.plugin == name]:
                    del table[key]
            info.components.clear()
            self._fail(name, info.dist, info.version, exc)

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
