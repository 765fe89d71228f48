"""``zelda plugins``: what is installed, its version and status, what it provides, what
clashes; ``zelda plugins show NAME`` for one plugin's components and their help."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("plugins", help="list installed plugins and their components")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--check", action="store_true",
                   help="import every component: report each plugin as usable or unusable "
                        "(and why), and fail on a factory that does not resolve")
    p.add_argument("--traceback", action="store_true",
                   help="show the stored traceback of each plugin that failed to load")
    sub = p.add_subparsers(dest="plugins_command", metavar="ACTION")
    show = sub.add_parser("show", help="one plugin's components with their help text")
    show.add_argument("name", help="plugin (entry-point) or distribution name")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=run_show)
    p.set_defaults(func=run)


def _plugin_json(pm: Any, p: Any, tracebacks: bool) -> dict[str, Any]:
    from .._plugins import KINDS

    key = next((k for k, v in pm.plugins.items() if v is p), p.name)
    out = {"name": p.name, "distribution": p.dist, "version": p.version, "status": p.status,
           "error": p.error, "components": {k: sorted(p.components.get(k, [])) for k in KINDS},
           "commands": sorted(p.components.get("commands", [])), "problems": p.problems,
           "conflicts": sorted(f"{kind}:{name}" for kind, name, comps in pm.conflicts()
                               if any(c.plugin == p.name for c in comps))}
    if tracebacks and key in pm.failure_tracebacks:
        out["traceback"] = pm.failure_tracebacks[key]
    return out


def run(args: argparse.Namespace) -> int:
    from .._plugins import KINDS, disable_hint, get_plugin_manager
    from .._registry import check_components

    pm = get_plugin_manager()
    tracebacks = args.traceback or getattr(args, "debug", False)
    problems = check_components(pm) if args.check else []
    if args.check:  # "check" means every plugin loaded: a failed one fails the check
        problems += [p.name for p in pm.failed()]
    plugins = sorted(pm.plugins.items(), key=lambda kv: kv[0])
    if args.json:
        print(json.dumps([_plugin_json(pm, p, tracebacks) for _, p in plugins], indent=2))
        return 1 if problems else 0
    if not plugins:
        print("no plugins installed (is zelda-video installed with pip?)")
    for key, p in plugins:
        print(f"{p.name} ({p.dist} {p.version}): {p.status}")
        if p.error:
            label = "reason" if p.status == "disabled" else "error"
            print(f"    {label}: {p.error}")
        for kind in (*KINDS, "commands"):
            names = p.components.get(kind)
            if names:
                print(f"    {kind}: {', '.join(sorted(names))}")
        for what, why in sorted(p.problems.items()):
            print(f"    unusable {what}: {why}")
        if p.status == "failed" and key in pm.failure_tracebacks:
            if tracebacks:
                print("    " + pm.failure_tracebacks[key].rstrip().replace("\n", "\n    "))
            else:
                print("    (zelda plugins --traceback shows the traceback)")
            print(f"    to run without it: {disable_hint(p.name)}")
    conflicts = pm.conflicts()
    if conflicts:
        print("conflicts (a recipe naming one of these must choose):")
        for kind, name, comps in conflicts:
            print(f"    {pm.conflict_message(kind, name, comps)}")
    if not args.check and any(p.status == "imported" for p in pm.plugins.values()):
        print("(\"imported\": the plugin loaded; 'zelda plugins --check' imports its "
              "components to tell usable from unusable)")
    return 1 if problems else 0


def run_show(args: argparse.Namespace) -> int:
    from .._errors import PluginError
    from .._plugins import KINDS, get_plugin_manager, norm
    from .._registry import ComponentImportError, resolve_factory

    pm = get_plugin_manager()
    found = [p for p in pm.plugins.values() if norm(args.name) in (norm(p.name), norm(p.dist))]
    if not found:
        raise PluginError(f"no plugin or distribution named '{args.name}'. Installed plugins: "
                          f"{', '.join(sorted(p.name for p in pm.plugins.values()))}.")
    shown = []
    for p in found:
        comps = []
        for kind in KINDS:
            for name in sorted(p.components.get(kind, [])):
                comp = next(c for c in pm.providers[kind][name] if c.plugin == p.name)
                target = comp.factory if isinstance(comp.factory, str) else _qualname(comp.factory)
                try:
                    obj = resolve_factory(comp)
                    doc, problem = _first_paragraph(obj), None
                except ComponentImportError as exc:
                    doc, problem = "", exc.reason
                contested = len(pm.providers[kind][name]) > 1
                comps.append({"kind": kind, "name": name, "factory": target, "help": comp.help,
                              "doc": doc, "unusable": problem,
                              "qualified": f"{p.dist}:{name}" if contested else None})
        shown.append({"name": p.name, "distribution": p.dist, "version": p.version,
                      "status": p.status, "error": p.error, "components": comps,
                      "commands": sorted(p.components.get("commands", []))})
    if args.json:
        print(json.dumps(shown, indent=2))
        return 0
    for s in shown:
        print(f"{s['name']} ({s['distribution']} {s['version']}): {s['status']}")
        if s["error"]:
            print(f"    {s['error']}")
        for c in s["components"]:
            extra = f"  [contested: use type = \"{c['qualified']}\"]" if c["qualified"] else ""
            print(f"  {c['kind'][:-1]} {c['name']}  ({c['factory']}){extra}")
            text = c["help"] or c["doc"]
            if text:
                print(f"      {text}")
            if c["unusable"]:
                print(f"      unusable: {c['unusable']}")
        for cmd in s["commands"]:
            print(f"  command module {cmd}")
    return 0


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"


def _first_paragraph(obj: Any) -> str:
    import inspect

    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.split("\n\n")[0].split())
