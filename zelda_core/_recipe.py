"""TOML recipes: load, ``extends``, ``--set`` overrides, ``resolved.toml``.

Recipes are data, never code: nothing in them is executed.
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import RecipeError
from ._install import DISTRIBUTION
from ._userfile import RECIPE_LIMIT, expect_file, path_kind, read_user_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

META_KEY = "meta"
"""Top-level table written into resolved.toml (versions, seed); ignored when loading."""


@dataclass
class Recipe:
    """A fully resolved recipe: ``data`` is the merged dict, ``path`` the file it came from."""

    data: dict[str, Any]
    path: Path | None = None
    sources: list[Path] = field(default_factory=list)
    derived: list[str] = field(default_factory=list)
    """Values filled from the model's declared input (``zelda_core._input_spec``)."""
    replaced: list[str] = field(default_factory=list)
    """Tables that replaced their parent's whole (``_replace_ = true``), with the file."""

    @property
    def file(self) -> str | None:
        return str(self.path) if self.path else None

    def get(self, dotted: str, default: Any = None) -> Any:
        """Value at a dotted key path, or ``default``."""
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node


def _read_toml(path: Path) -> dict[str, Any]:
    text = read_user_text(path, "recipe file", limit=RECIPE_LIMIT, error=RecipeError,
                          expected="a TOML file")
    try:
        return _shallow(tomllib.loads(text), str(path))
    except RecursionError:
        raise RecipeError(f"{path}: arrays or tables nested too deeply to read (a recipe needs "
                          f"at most {MAX_DEPTH} levels)") from None
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        if m:
            line, col = int(m.group(1)), int(m.group(2))
            reason = msg[: m.start()].strip()
            lines = text.splitlines()
            shown = lines[line - 1] if 0 < line <= len(lines) else ""
            raise RecipeError(
                f"{path}:{line}:{col}: TOML syntax error: {reason}\n    {shown}\n    {' ' * (col - 1)}^"
            ) from None
        raise RecipeError(f"{path}: TOML syntax error: {msg}") from None


REPLACE_KEY = "_replace_"
"""``_replace_ = true`` in a table of a recipe that ``extends`` another: the table replaces
the parent's whole instead of merging into it (MMEngine's ``_delete_``)."""


def deep_merge(base: dict[str, Any], override: dict[str, Any], *, file: str | None = None,
               replaced: list[str] | None = None, prefix: str = "") -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``: tables merge, everything else (lists too)
    replaces; a table of ``override`` marked ``_replace_ = true`` replaces whole (its dotted
    key is appended to ``replaced``). Markers never reach the result."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key == REPLACE_KEY:
            continue
        where = f"{prefix}{key}"
        if isinstance(value, dict) and _marked(value, file, where):
            if replaced is not None:
                replaced.append(where)
            out[key] = strip_markers(value, file, where)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value, file=file, replaced=replaced, prefix=f"{where}.")
        else:
            out[key] = strip_markers(value, file, where) if isinstance(value, dict) else copy.deepcopy(value)
    return out


def _marked(table: dict[str, Any], file: str | None, where: str) -> bool:
    flag = table.get(REPLACE_KEY, False)
    if not isinstance(flag, bool):
        raise RecipeError(f"{REPLACE_KEY} must be true (replace the parent's table whole) or "
                          f"false, got {flag!r}", file=file, key=f"{where}.{REPLACE_KEY}")
    return flag


def strip_markers(table: dict[str, Any], file: str | None = None, where: str = "") -> dict[str, Any]:
    """A copy of ``table`` without ``_replace_`` keys (checked) at any depth of tables."""
    out = {}
    for key, value in table.items():
        here = f"{where}.{key}" if where else key
        if key == REPLACE_KEY:
            _marked(table, file, where)
            continue
        out[key] = strip_markers(value, file, here) if isinstance(value, dict) else copy.deepcopy(value)
    return out


def _load_with_extends(path: Path, stack: tuple[Path, ...], sources: list[Path],
                       replaced: list[str] | None = None) -> dict[str, Any]:
    try:
        path = path.resolve()
    except (OSError, RuntimeError):  # a symbolic link loop (RuntimeError before Python 3.13)
        raise RecipeError(expect_file(path, "recipe file", "a TOML file")
                          or f"cannot resolve the recipe path {path}") from None
    if path in stack:
        chain = " -> ".join(str(p) for p in (*stack, path))
        raise RecipeError(f"'extends' cycle: {chain}. Remove one of these 'extends'.", file=str(path))
    data = _read_toml(path)
    sources.append(path)
    parents = data.pop("extends", None)
    meta = data.pop(META_KEY, None)
    if isinstance(meta, dict):  # a resolved.toml: remember who provided its components
        from ._registry import remember_provenance

        remember_provenance(meta.get("versions"))
    if parents is None:
        return strip_markers(data, str(path))
    if isinstance(parents, str):
        parents = [parents]
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        raise RecipeError("'extends' must be a file name or a list of file names", file=str(path), key="extends")
    merged: dict[str, Any] = {}
    for parent in parents:
        parent_path = path.parent / parent
        kind = path_kind(parent_path)
        if kind != "a regular file":
            what = "does not exist" if kind.startswith("missing") else f"is {kind}, not a TOML file"
            raise RecipeError(f"extends {parent!r}, but {parent_path} {what} (paths are relative "
                              "to the recipe)", file=str(path), key="extends")
        merged = deep_merge(merged, _load_with_extends(parent_path, (*stack, path), sources, replaced),
                            file=str(path))
    mine: list[str] = []
    out = deep_merge(merged, data, file=str(path), replaced=mine)
    if replaced is not None:
        replaced.extend(f"{key} (_replace_ = true in {path})" for key in mine)
    return out


MAX_DEPTH = 32
"""How deeply a recipe's arrays and tables may nest (real recipes use 4 or 5 levels)."""


def _shallow(data: dict[str, Any], where: str) -> dict[str, Any]:
    """``data``, or RecipeError when it nests deeper than MAX_DEPTH (checked without
    recursion: later code walks recipes recursively)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise RecipeError(f"{where}: arrays or tables nested more than {MAX_DEPTH} levels deep; "
                              "a recipe needs 4 or 5")
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=VALUE`` -> (["a","b","c"], value); VALUE is TOML, else a plain string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise RecipeError(f"--set expects KEY=VALUE with a dotted KEY such as data.root=path, got {text!r}")
    try:
        value = _shallow(tomllib.loads(f"v = {raw}"), f"--set {key}")["v"]
    except RecursionError:
        raise RecipeError(f"--set {key}: the value is nested too deeply") from None
    except tomllib.TOMLDecodeError:
        value = raw
    return key.split("."), value


def apply_override(data: dict[str, Any], keys: list[str], value: Any) -> None:
    """Set ``value`` at ``keys`` (digits index into lists), creating tables as needed."""
    node: Any = data
    for i, part in enumerate(keys[:-1]):
        where = ".".join(keys[: i + 1])
        if isinstance(node, list):
            node = node[_index(node, part, where)]
        else:
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            elif not isinstance(nxt, (dict, list)):
                raise RecipeError(f"cannot set '{'.'.join(keys)}': '{where}' is {nxt!r}, not a table", key=where)
            node = nxt
    last = keys[-1]
    if isinstance(node, list):
        node[_index(node, last, ".".join(keys))] = value
    else:
        node[last] = value


def _index(items: list[Any], part: str, where: str) -> int:
    if not part.lstrip("-").isdigit() or not -len(items) <= int(part) < len(items):
        raise RecipeError(f"'{where}': {part!r} is not an index of a list of {len(items)} items", key=where)
    return int(part)


def load_recipe(path: str | Path, overrides: Iterable[str] = ()) -> Recipe:
    """Read a recipe, follow ``extends``, apply ``--set`` overrides, then fill what it
    leaves out from its model's declared input (``zelda_core.api.InputSpec``)."""
    path = Path(path)
    sources: list[Path] = []
    replaced: list[str] = []
    data = _load_with_extends(path, (), sources, replaced)
    for text in overrides:
        keys, value = parse_override(text)
        apply_override(data, keys, value)
    from ._input_spec import apply_input_spec  # the model's input fills what is left out

    return Recipe(data=data, path=path, sources=sources, derived=apply_input_spec(data),
                  replaced=replaced)


def dumps(data: dict[str, Any]) -> str:
    """TOML text of a plain recipe dict."""
    import tomli_w

    return tomli_w.dumps(data)


def versions(data: dict[str, Any] | None = None) -> dict[str, Any]:
    """zelda, torch and plugin versions, for resolved.toml and checkpoints.

    ``components`` maps each component type ``data`` names (or, without ``data``, every
    component built in this process) to the ``dist==version`` that provided it, so a
    missing one's error says what to install."""
    from importlib import metadata

    from ._plugins import get_plugin_manager
    from ._registry import built_components, used_provenance

    out: dict[str, Any] = {}
    for key, dist in (("zelda", DISTRIBUTION), ("torch", "torch")):
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[key] = "unknown"
    out["plugins"] = {
        p.name: f"{p.dist} {p.version}".strip()
        for p in get_plugin_manager().plugins.values()
        if p.loaded
    }
    if data is not None:
        from ._recipe_tables import component_tables

        used = [(ref.kind, ref.table.get("type")) for ref in component_tables(data)
                if isinstance(ref.table, dict) and isinstance(ref.table.get("type"), str)]
        used += _nested_types(data.get("model"))
    else:
        used = built_components()
    out["components"] = used_provenance(used)
    return out


def _nested_types(table: Any) -> list[tuple[str, str]]:
    """(kind, type) of the model tree's nested tables."""
    if not isinstance(table, dict):
        return []
    out = []
    for value in table.values():
        if isinstance(value, dict) and isinstance(value.get("type"), str):
            out.append(("models", value["type"]))
            out += _nested_types(value)
    return out


def write_resolved(recipe: Recipe, work_dir: str | Path, *, seed: int | None = None) -> Path:
    """Write ``work_dir/resolved.toml``: the merged recipe plus a ``[meta]`` table.

    Loading that file again gives back ``recipe.data`` (the ``meta`` table is ignored).
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    data = copy.deepcopy(recipe.data)
    if seed is not None:
        data["seed"] = seed
    data[META_KEY] = {"source": recipe.file or "", **({"seed": seed} if seed is not None else {}),
                      "versions": versions(data)}
    from ._outputs import write_output

    return write_output(work_dir / "resolved.toml", dumps(data), option="the work dir's",
                        fsync=False)
