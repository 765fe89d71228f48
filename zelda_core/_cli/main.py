"""Entry point of the ``zelda`` command: parse, dispatch, turn user errors into messages.

Exit codes: 0 ok, 1 user error (one paragraph, no traceback unless --debug), 2 usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__
from .._errors import ZeldaError

COMMANDS = (
    "zelda_core._cli.plugins_cmd",
    "zelda_core._cli.components_cmd",
    "zelda_core._cli.recipe_cmd",
    "zelda_core._cli.run_cmd",
    "zelda_core._cli.test_cmd",
    "zelda_core._cli.predict_cmd",
    "zelda_core._cli.probe_cmd",
    "zelda_core._cli.export_cmd",
    "zelda_core._cli.plot_cmd",
    "zelda_core._cli.report_cmd",
)
GROUP_COMMANDS = {
    "bench": ("zelda_core._cli.bench_pipeline_cmd", "zelda_core._cli.bench_train_cmd"),
    "data": ("zelda_core._cli.data_cmd",),
}
GROUP_HELP = {
    "bench": "measure decoding, pipeline or training speed",
    "data": "check or prepare a recipe's datasets",
}


def _add_commands(subparsers: argparse._SubParsersAction, modules: Sequence[str]) -> None:
    for name in modules:
        importlib.import_module(name).add_parser(subparsers)


_DEFERRED: list[str] = []
"""A plugin failure found while building the parser, not yet shown."""


def _plugin_commands() -> dict[str | None, list[str]]:
    """Command modules plugins registered, by group; a plugin whose command module fails
    to import is reported by ``zelda plugins``, never breaks the CLI."""
    from .._plugins import get_plugin_manager

    try:
        pm = get_plugin_manager()
    except ZeldaError as exc:  # strict mode and a broken plugin: the commands still parse;
        _DEFERRED.append(str(exc))  # said once: as the command's error, else as a warning
        return {}
    found: dict[str | None, list[str]] = {}
    for cmd in pm.commands:
        found.setdefault(cmd.group, []).append(cmd.module)
    return found


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (cheap: command modules import heavy code only when run)."""
    parser = argparse.ArgumentParser(
        prog="zelda",
        description="Train, evaluate and run video action recognition models from TOML recipes.",
    )
    parser.add_argument("--version", action="version", version=f"zelda {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    parser.add_argument("--disable-plugin", action="append", default=[], metavar="NAME",
                        help="do not load this plugin (entry-point or distribution name; "
                             "repeatable; adds to ZELDA_DISABLE_PLUGINS)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    plugin_commands = _plugin_commands()
    _add_commands(sub, COMMANDS)
    _add_plugin_commands(sub, plugin_commands.get(None, []))
    for group, modules in GROUP_COMMANDS.items():
        group_parser = sub.add_parser(group, help=GROUP_HELP[group])
        group_sub = group_parser.add_subparsers(dest=f"{group}_command", metavar="WHAT",
                                                required=True)
        _add_commands(group_sub, modules)
        _add_plugin_commands(group_sub, plugin_commands.get(group, []))
    return parser


def _add_plugin_commands(subparsers: argparse._SubParsersAction, modules: Sequence[str]) -> None:
    for name in modules:
        try:
            importlib.import_module(name).add_parser(subparsers)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a plugin's broken command is its own
            print(f"zelda: warning: plugin command {name!r} could not be added: "
                  f"{type(exc).__name__}: {exc}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code.

    A process torchrun started as one of several ranks, running as the program (no
    ``argv``), ends here with that code, without the interpreter's native teardown
    (``distributed.end_worker``): every node's torchrun then sees the code the command
    decided."""
    import os

    code = _run(argv)
    if argv is None and "RANK" in os.environ:
        from .._engine.distributed import end_worker, launched

        if launched():
            end_worker(code)
    return code


def _run(argv: Sequence[str] | None) -> int:
    import os

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line, not only before the command
    before = os.environ.get("ZELDA_DISABLE_PLUGINS")
    argv = _disable_plugins(argv)  # accepted anywhere too
    _DEFERRED.clear()
    try:
        return _main(argv, debug)
    finally:
        for message in _DEFERRED:  # e.g. --help or a command that loads no plugin
            print(f"zelda: warning: {message}", file=sys.stderr)
        _DEFERRED.clear()
        if os.environ.get("ZELDA_DISABLE_PLUGINS") != before:  # main() called in a process
            _restore_disabled(before)  # that goes on (a test, a notebook) leaves no trace


def _main(argv: list[str], debug: bool) -> int:
    parser = build_parser()
    args = parser.parse_args([a for a in argv if a != "--debug"])
    args.debug = debug
    args.argv = argv  # `--nproc N` starts the same command line in N processes
    if debug:  # decoder plugins (and DataLoader workers) show FFmpeg's own log lines then
        import os

        os.environ["ZELDA_DEBUG"] = "1"
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ZeldaError as exc:
        if str(exc) in _DEFERRED:  # the parser's plugin failure, met again: shown once
            _DEFERRED.remove(str(exc))
        if debug:
            raise
        print(f"{_rank_prefix()}zelda: error: {_paragraph(str(exc))}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `zelda plugins --json | head`: the reader left; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if debug or not _environment_error(exc):
            raise
        from .._errors import os_error_message

        print(f"{_rank_prefix()}zelda: error: {os_error_message(exc, 'access', option=None)}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("zelda: interrupted", file=sys.stderr)
        return 130


def _environment_error(exc: OSError) -> bool:
    """A full disk, a read-only, forbidden or impossible path: the machine's state or the
    user's path, not a bug (``--debug`` still shows the traceback)."""
    import errno

    return exc.errno in (
        errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO,
        errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENOENT, errno.ENAMETOOLONG, errno.ELOOP)


def _rank_prefix() -> str:
    """'[rank N] ' in a process torchrun started as rank N > 0 (rank 0 speaks plainly)."""
    import os

    rank = os.environ.get("RANK", "0") if os.environ.get("WORLD_SIZE", "1") != "1" else "0"
    return f"[rank {rank}] " if rank not in ("", "0") else ""


def _disable_plugins(argv: list[str]) -> list[str]:
    """Apply ``--disable-plugin NAME`` before any plugin loads (building the parser loads
    them, for their commands); the environment carries it to worker processes too.
    Returns ``argv`` without those options."""
    import os

    names, rest = [], []
    i = 0
    while i < len(argv):
        if argv[i] == "--disable-plugin" and i + 1 < len(argv):
            names.append(argv[i + 1])
            i += 1
        elif argv[i].startswith("--disable-plugin="):
            names.append(argv[i].partition("=")[2])
        else:
            rest.append(argv[i])
        i += 1
    if names:
        current = os.environ.get("ZELDA_DISABLE_PLUGINS", "")
        os.environ["ZELDA_DISABLE_PLUGINS"] = ",".join(filter(None, [current, *names]))
        from .._plugins import reset_plugin_manager

        reset_plugin_manager()
    return rest


def _restore_disabled(value: str | None) -> None:
    import os

    from .._plugins import reset_plugin_manager

    if value is None:
        os.environ.pop("ZELDA_DISABLE_PLUGINS", None)
    else:
        os.environ["ZELDA_DISABLE_PLUGINS"] = value
    reset_plugin_manager()


def _paragraph(message: str) -> str:
    return message + ("\n(run with --debug for the traceback)" if "\n" in message else "")
