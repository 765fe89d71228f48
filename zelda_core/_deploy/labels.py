"""Class names for predictions, whenever they can be known."""

from __future__ import annotations

import os
from typing import Any

LABEL_MAP = "label_map.txt"


def placeholder(classes: list[str]) -> bool:
    """Whether ``classes`` are only the indices "0".."K-1" (no names were given)."""
    return not classes or classes == [str(i) for i in range(len(classes))]


def class_names(classes: list[str], recipe: dict[str, Any], num_classes: int | None = None,
                *, recipe_file: str | None = None) -> tuple[list[str], str | None]:
    """(names, note): the checkpoint's classes, or ``label_map.txt`` in ``data.root`` when
    the classes are bare indices and that file names as many classes. ``note`` says where
    the names came from when they are not the checkpoint's own."""
    from .._data import read_label_map, resolve_root

    if not placeholder(classes):
        return classes, None
    data = recipe.get("data") or {}
    root = data.get("root")
    if not root:
        return classes, None
    path = os.path.join(resolve_root(root, recipe_file), LABEL_MAP)
    if not os.path.isfile(path):
        return classes, None
    try:
        names = read_label_map(path)
    except Exception:  # noqa: BLE001 - an unreadable map leaves the indices, said below
        return classes, f"{path} could not be read; labels stay indices"
    k = num_classes or len(classes)
    if k and len(names) != k:
        return classes, (f"{path} names {len(names)} classes but the model has {k}; "
                         "labels stay indices")
    return names, f"class names from {path} (the recipe names no label map)"
