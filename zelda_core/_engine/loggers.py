"""The run's loggers (``register_loggers``): the recipe's ``[loggers.NAME]`` tables plus
the defaults, built on rank 0. ``log.LoggerSet`` calls them, each call isolated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._errors import RecipeError, ZeldaError
from .._recipe_tables import DEFAULT_LOGGERS, RECORD_LOGGER


@dataclass
class LoggerEntry:
    """One built logger: its recipe name, the object, who provides it."""

    name: str
    logger: Any
    provider: str
    required: bool = False
    failure: str | None = None
    """Why its factory failed (a crash, not a recipe mistake): reported once, left out."""


def logger_tables(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The tables to build, by name: the recipe's ``[loggers.NAME]`` (``type`` defaulting
    to NAME), then each default logger the recipe neither names nor turns off (``false``)
    nor already has under another name."""
    named = data.get("loggers") if isinstance(data.get("loggers"), dict) else {}
    tables = {n: {"type": n, **t} for n, t in named.items() if isinstance(t, dict)}
    types = {t["type"] for t in tables.values()}
    defaults = {n: {"type": n} for n in DEFAULT_LOGGERS
                if n not in named and n not in types}
    return {**defaults, **tables}  # the record first: it is written before the others


def build_loggers(data: dict[str, Any], *, file: str | None = None) -> list[LoggerEntry]:
    """Build the loggers of a recipe dict. A default logger whose library is missing
    (tensorboard) is left out quietly, as before loggers were plugins; a logger the
    recipe names and cannot be built is a RecipeError at its key (recipe check says the
    same); one whose factory crashes is returned with its ``failure``: reported once and
    left out, as a logger that raises later."""
    from .._errors import PluginError
    from .._registry import ComponentImportError, build, get_component

    entries = []
    named = data.get("loggers") if isinstance(data.get("loggers"), dict) else {}
    for name, table in logger_tables(data).items():
        key = f"loggers.{name}"
        default = name not in named
        try:
            component = get_component("loggers", table["type"], key=key, file=file)
            logger = build("loggers", table, key=key, file=file)
        except (ComponentImportError, ZeldaError) as exc:
            if default and name != RECORD_LOGGER:
                continue  # tensorboard not installed: no TensorBoard logs, as always
            if isinstance(exc, RecipeError) or name == RECORD_LOGGER:
                raise
            if isinstance(exc, PluginError):
                entries.append(LoggerEntry(name, None, component.provider, failure=" ".join(str(exc).split())))
                continue
            raise RecipeError(str(exc), file=file, key=key) from exc
        entries.append(LoggerEntry(name, logger, component.provider, required=name == RECORD_LOGGER))
    return entries
