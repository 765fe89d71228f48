"""``zelda recipe check|show``: validate a recipe, or print it fully resolved."""

from __future__ import annotations

import argparse

from .common import add_set_argument


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("recipe", help="check or show a TOML recipe")
    sub = p.add_subparsers(dest="recipe_command", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate every component table against its plugin")
    check.add_argument("recipe", help="path to a .toml recipe")
    add_set_argument(check)
    check.set_defaults(func=run_check)
    show = sub.add_parser("show", help="print the resolved recipe (extends and --set applied)")
    show.add_argument("recipe", help="path to a .toml recipe")
    add_set_argument(show)
    show.set_defaults(func=run_show)


def run_check(args: argparse.Namespace) -> int:
    from .._recipe import load_recipe
    from .._schema import validate_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    validate_recipe(recipe)
    _build_what_run_builds(recipe)
    _print_derived(recipe, defaults=False)
    print(f"{args.recipe}: ok")
    return 0


def _build_what_run_builds(recipe) -> None:
    """"check" means built: transforms, metrics, model, optimizer, scheduler (no data)."""
    from .._engine.preflight import build_errors
    from .._errors import RecipeError

    notes: list[str] = []
    errors = build_errors(recipe, notes)
    for note in notes:  # the class count built with (one line), the metrics' warnings
        print(f"# {note}" if note.startswith("classes: ") else f"# warning: {note}")
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise RecipeError(f"{len(errors)} problems:\n" + "\n".join(f"- {e}" for e in errors))


def run_show(args: argparse.Namespace) -> int:
    from .._recipe import dumps, load_recipe

    recipe = load_recipe(args.recipe, args.overrides)
    for note in recipe.replaced:  # tables that did not merge with their parent's
        print(f"# replaced whole: {note}")
    _print_derived(recipe)
    print(dumps(recipe.data), end="")
    return 0


def _print_derived(recipe, *, defaults: bool = True) -> None:
    """Values the model's declared input filled in, and values that differ from it, as
    TOML comments (so ``recipe show`` output stays a valid recipe)."""
    from .._input_spec import input_spec_warnings

    for note in recipe.derived if defaults else ():
        print(f"# default: {note}")
    for warning in input_spec_warnings(recipe.data):
        print(f"# warning: {warning}")
