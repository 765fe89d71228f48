"""docs/architecture.md matches the tree, and docs/plugins.md names every Protocol member."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LISTED_ROOTS = ("zelda_core", "zelda_testing", "zelda_decoding", "plugins")


def tree_modules(text: str) -> set[str]:
    """The ``.py`` paths the fenced tree of architecture.md lists (folders end with ``/``,
    two spaces of indent per level)."""
    block = text.split("## The tree", 1)[1].split("```", 2)[1]
    stack: list[tuple[int, str]] = []
    found = set()
    for line in block.splitlines():
        m = re.match(r"^( *)(\S+)", line)
        if not m:
            continue
        indent, name = len(m.group(1)), m.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if name.endswith("/"):
            stack.append((indent, name.rstrip("/")))
        elif name.endswith(".py"):
            found.add("/".join([s for _, s in stack] + [name]))
    return found


def disk_modules() -> set[str]:
    return {str(p.relative_to(REPO)) for root in LISTED_ROOTS for p in (REPO / root).rglob("*.py")
            if "__pycache__" not in p.parts and ".egg-info" not in str(p)}


def test_architecture_tree_lists_exactly_the_modules_on_disk() -> None:
    listed = tree_modules((REPO / "docs" / "architecture.md").read_text(encoding="utf-8"))
    on_disk = disk_modules()
    assert not on_disk - listed, f"modules missing from docs/architecture.md: {sorted(on_disk - listed)}"
    assert not listed - on_disk, f"docs/architecture.md lists modules that do not exist: {sorted(listed - on_disk)}"


def test_the_tree_parser_sees_a_missing_module(tmp_path: Path) -> None:
    text = "## The tree\n```\nzelda_core/\n  api.py   x\n  _engine/\n    loop.py  y\nplugins/\n```\n"
    assert tree_modules(text) == {"zelda_core/api.py", "zelda_core/_engine/loop.py"}


def protocol_members(proto: type) -> set[str]:
    names = set(getattr(proto, "__annotations__", {}))
    names |= {n for n in vars(proto) if not n.startswith("_") and not n.startswith("__")}
    return names - {"register"}


@pytest.mark.parametrize("name", ["Decoder", "Transform", "Dataset", "Model", "Backbone", "Metric", "Logger"])
def test_plugins_doc_names_every_protocol_member(name: str) -> None:
    from zelda_core import api

    doc = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
    proto = getattr(api, name)
    assert name in doc, f"docs/plugins.md does not name the {name} protocol"
    missing = sorted(m for m in protocol_members(proto) if not re.search(rf"\b{re.escape(m)}\b", doc))
    assert not missing, f"docs/plugins.md does not mention {name} members {missing}"
