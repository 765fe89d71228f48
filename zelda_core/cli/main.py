"""Entry point of the ``zelda`` command: parse, dispatch, turn user errors into messages.

Exit codes: 0 ok, 1 user error (one paragraph, no traceback unless --debug), 2 usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import ZeldaError

COMMANDS = (
    "zelda_core.cli.plugins_cmd",
    "zelda_core.cli.recipe_cmd",
    "zelda_core.cli.run_cmd",
    "zelda_core.cli.test_cmd",
    "zelda_core.cli.predict_cmd",
    "zelda_core.cli.data_cmd",
    "zelda_core.cli.probe_cmd",
)
BENCH_COMMANDS = (
    "zelda_core.cli.bench_decode_cmd",
    "zelda_core.cli.bench_pipeline_cmd",
)


def _add_commands(subparsers: argparse._SubParsersAction, modules: Sequence[str]) -> None:
    for name in modules:
        importlib.import_module(name).add_parser(subparsers)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (cheap: command modules import heavy code only when run)."""
    parser = argparse.ArgumentParser(
        prog="zelda",
        description="Train, evaluate and run video action recognition models from TOML recipes.",
    )
    parser.add_argument("--version", action="version", version=f"zelda {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_commands(sub, COMMANDS)
    bench = sub.add_parser("bench", help="measure decoding or pipeline speed")
    bench_sub = bench.add_subparsers(dest="bench_command", metavar="WHAT", required=True)
    _add_commands(bench_sub, BENCH_COMMANDS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line, not only before the command
    parser = build_parser()
    args = parser.parse_args([a for a in argv if a != "--debug"])
    args.debug = debug
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ZeldaError as exc:
        if debug:
            raise
        print(f"zelda: error: {_paragraph(str(exc))}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `zelda plugins --json | head`: the reader left; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("zelda: interrupted", file=sys.stderr)
        return 130


def _paragraph(message: str) -> str:
    return message + ("\n(run with --debug for the traceback)" if "\n" in message else "")
