"""Arguments several commands share."""

from __future__ import annotations

import argparse
import json


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` (repeatable) into ``args.overrides``."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a recipe value, e.g. --set data.root=../data (VALUE is TOML; repeatable)",
    )


def add_decoder_argument(parser: argparse.ArgumentParser, *, repeat: bool = False) -> None:
    """``--decoder NAME``: the recipe's ``data.decoder`` for this command (repeatable where
    the command compares backends side by side)."""
    parser.add_argument(
        "--decoder", action="append" if repeat else "store", default=[] if repeat else None,
        metavar="NAME",
        help="decoder backend (pyav, decord, torchcodec, ...); same as --set data.decoder=NAME"
             + ("; repeat it to compare backends side by side" if repeat else ""))


def decoder_override(name: str) -> str:
    """The ``--set`` override that makes ``name`` the recipe's decoder."""
    return f"data.decoder={json.dumps(name)}"
