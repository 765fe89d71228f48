"""``zelda components [KIND] [--json]``: every component with its parameters (types,
defaults), docstring, help and provider. Imports each component's module."""

from __future__ import annotations

import argparse
import json
from typing import Any

INJECTED = {"decoders": ("path",), "datasets": ("root", "pipeline", "decoder", "on_error")}
"""Parameters the engine passes itself (a recipe does not set them)."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("components",
                              help="list components with their parameters and documentation")
    p.add_argument("kind", nargs="?", metavar="KIND",
                   help="decoders, transforms, datasets, models, metrics or batch_transforms (default: all)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def describe(kind: str) -> list[dict[str, Any]]:
    """One dict per component of ``kind`` (contested names: one per provider)."""
    from .._plugins import get_plugin_manager
    from .._registry import ComponentImportError, resolve_factory

    pm = get_plugin_manager()
    out = []
    for name, comps in sorted(pm.providers[kind].items()):
        for comp in comps:
            entry: dict[str, Any] = {
                "kind": kind, "name": name, "plugin": comp.plugin, "distribution": comp.dist,
                "version": comp.version, "help": comp.help, "contested": len(comps) > 1,
                "usable": True, "reason": None, "doc": "", "params": []}
            try:
                factory = resolve_factory(comp)
            except ComponentImportError as exc:
                entry.update(usable=False, reason=exc.reason)
                out.append(entry)
                continue
            entry["doc"] = _doc(factory)
            entry["params"] = _params(factory, INJECTED.get(kind, ()))
            out.append(entry)
    return out


def _doc(factory: Any) -> str:
    import inspect

    return (inspect.getdoc(factory) or "").strip()


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


def _params(factory: Any, injected: tuple[str, ...]) -> list[dict[str, Any]]:
    import inspect

    from .._params import _hints, signature_of, type_name

    sig = signature_of(factory)
    if sig is None:
        return []
    hints = _hints(factory)
    out = []
    for p in sig.parameters.values():
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            continue
        tp = hints.get(p.name, p.annotation)
        out.append({
            "name": p.name,
            "type": None if tp is inspect.Parameter.empty else
            (tp if isinstance(tp, str) else type_name(tp)),
            "required": p.default is p.empty,
            "default": None if p.default is p.empty else _jsonable(p.default),
            "injected": p.name in injected,
        })
    return out


def run(args: argparse.Namespace) -> int:
    from .._errors import ZeldaError
    from .._plugins import KINDS

    kinds = KINDS
    if args.kind:
        kind = args.kind if args.kind.endswith("s") else args.kind + "s"
        if kind not in KINDS:
            raise ZeldaError(f"unknown kind '{args.kind}'; kinds are {', '.join(KINDS)}")
        kinds = (kind,)
    entries = [e for kind in kinds for e in describe(kind)]
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    for e in entries:
        who = f"{e['plugin']}, {e['distribution']} {e['version']}"
        qualified = f"  (contested: type = \"{e['distribution']}:{e['name']}\")" \
            if e["contested"] else ""
        print(f"{e['kind'][:-1]} {e['name']}  [{who}]{qualified}")
        if not e["usable"]:
            print(f"    unusable: {e['reason']}")
        summary = e["help"] or " ".join(e["doc"].split("\n\n")[0].split())
        if summary:
            print(f"    {summary}")
        for p in e["params"]:
            if p["injected"]:
                continue
            typ = f": {p['type']}" if p["type"] else ""
            default = "" if p["required"] else f" = {json.dumps(p['default'])}"
            print(f"    {p['name']}{typ}{default}" + ("  (required)" if p["required"] else ""))
    return 0
