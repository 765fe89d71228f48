"""Build a split's dataset from a recipe dict."""

from __future__ import annotations

import os
from typing import Any

from .._errors import RecipeError
from ..api import DEFAULT_DECODER


def _recipe_parts(recipe: Any, recipe_file: str | None) -> tuple[dict[str, Any], str | None]:
    if hasattr(recipe, "data") and hasattr(recipe, "file"):  # a zelda_core._recipe.Recipe
        return recipe.data, recipe_file or recipe.file
    return recipe, recipe_file


def resolve_root(root: str | None, recipe_file: str | None) -> str:
    """``data.root``: absolute, else relative to the working directory, else to the recipe."""
    if not root:
        root = "."
    root = os.path.expanduser(str(root))
    if os.path.isabs(root) or os.path.isdir(root) or not recipe_file:
        return root
    beside = os.path.join(os.path.dirname(os.path.abspath(recipe_file)), root)
    return beside if os.path.isdir(beside) else root


def split_folders(recipe: dict, recipe_file: str | None = None) -> list[tuple[str, str]]:
    """("data.<split>", folder) for every split: the data root joined with the split's
    ``prefix`` (the folder its videos are under); outputs must stay out of these."""
    data = recipe.get("data") if isinstance(recipe, dict) else None
    if not isinstance(data, dict):
        return []
    root = resolve_root(data.get("root") if isinstance(data.get("root"), str) else None, recipe_file)
    found = []
    for split, table in data.items():
        if isinstance(table, dict) and "type" in table:
            prefix = table.get("prefix")
            folder = os.path.join(root, prefix) if isinstance(prefix, str) else root
            found.append((f"data.{split}'s videos", folder))
    return found


def decoder_spec(data: dict[str, Any]) -> dict[str, Any]:
    """``{type, **options}`` from ``data.decoder`` and ``data.decoder_options``."""
    from .._recipe_tables import AUTO_DECODER

    if data.get("decoder") == AUTO_DECODER:
        from .._schema_values import auto_decoder_error

        raise auto_decoder_error(None)
    options = data.get("decoder_options") or {}
    return {"type": data.get("decoder", DEFAULT_DECODER), **options}


def build_dataset(recipe: dict, split: str, *, recipe_file: str | None = None) -> Any:
    """The dataset of ``[data.<split>]``: pipeline, decoder, root and on_error injected.

    The decoder table is checked here, once, into the ``VideoOpener`` the dataset hands
    every sample; opening a video later does no checking.

    The result has ``classes``, ``len()``, ``set_epoch()`` and the recipe's seed.
    """
    from .._pipeline import Pipeline
    from .._registry import build
    from .._video import VideoOpener

    data_all, file = _recipe_parts(recipe, recipe_file)
    data = data_all.get("data")
    if not isinstance(data, dict):
        raise RecipeError("the recipe has no [data] table", file=file, key="data")
    table = data.get(split)
    if not isinstance(table, dict):
        splits = [k for k, v in data.items() if isinstance(v, dict) and "type" in v]
        raise RecipeError(f"no [data.{split}] table; this recipe defines: "
                          f"{', '.join(splits) or '(none)'}", file=file, key=f"data.{split}")
    pipeline = Pipeline.from_config(table.get("pipeline", []), key=f"data.{split}.pipeline", file=file)
    params = {k: v for k, v in table.items() if k != "pipeline"}
    dataset = build("datasets", params, key=f"data.{split}", file=file,
                    root=resolve_root(data.get("root"), file), pipeline=pipeline,
                    decoder=VideoOpener(decoder_spec(data), key="data.decoder", file=file), on_error=data.get("on_error", "raise"))
    if hasattr(dataset, "set_seed"):
        dataset.set_seed(int(data_all.get("seed", 0)))
    for attr, value in (("split", split), ("test_mode", split != "train")):
        if hasattr(dataset, attr):
            setattr(dataset, attr, value)
    return dataset
