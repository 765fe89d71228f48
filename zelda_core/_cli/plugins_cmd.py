"""``zelda plugins``: what is installed, its version and status, and what it provides."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("plugins", help="list installed plugins and their components")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._plugins import KINDS, get_plugin_manager

    pm = get_plugin_manager()
    plugins = sorted(pm.plugins.values(), key=lambda p: p.name)
    if args.json:
        print(json.dumps([
            {"name": p.name, "distribution": p.dist, "version": p.version, "status": p.status,
             "error": p.error, "components": {k: sorted(p.components.get(k, [])) for k in KINDS}}
            for p in plugins
        ], indent=2))
        return 0
    if not plugins:
        print("no plugins installed (is zelda installed with pip?)")
    for p in plugins:
        print(f"{p.name} ({p.dist} {p.version}): {p.status}")
        if p.error:
            print(f"    error: {p.error}")
        for kind in KINDS:
            names = p.components.get(kind)
            if names:
                print(f"    {kind}: {', '.join(sorted(names))}")
    return 0
