"""No import circles among zelda_core's modules (AST, nothing imported).

Every import counts wherever it is written, at module level or inside a function (a
function-level import is still a dependency, only a later one); imports under
``if TYPE_CHECKING:`` do not run and do not count. ``from pkg import name`` resolves to
the submodule ``pkg.name`` when there is one, else to the module a package's lazy
``_LAZY`` table names for ``name``, else to ``pkg`` itself. A package's own ``__init__``
being imported on the way to a submodule is not an edge (the packages are lazy).
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip |= {id(n) for n in ast.walk(child)}
    return skip


def _lazy_table(tree: ast.AST) -> dict[str, str]:
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in node.targets)
                and isinstance(node.value, ast.Dict)):
            return {k.value: v.value for k, v in zip(node.value.keys, node.value.values)
                    if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)}
    return {}


def import_graph(root: Path, top: str = "zelda_core") -> dict[str, set[str]]:
    """{module: the modules of ``top`` it imports} for every module under ``root/top``."""
    trees = {module_name(p, root): (p, ast.parse(p.read_text(encoding="utf-8"), str(p)))
             for p in sorted((root / top).rglob("*.py"))}
    lazy = {name: _lazy_table(tree) for name, (_, tree) in trees.items()}
    graph: dict[str, set[str]] = {}
    for name, (path, tree) in trees.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        skip = _type_checking_nodes(tree)
        edges: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name in trees}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                if source not in trees:
                    continue
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    if sub in trees:
                        edges.add(sub)
                    elif alias.name in lazy[source]:
                        edges.add(lazy[source][alias.name])
                    else:
                        edges.add(source)
        edges.discard(name)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_zelda_core_has_no_import_cycles():
    found = cycles(import_graph(REPO))
    assert not found, "import circles in zelda_core: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_checker_sees_module_and_function_level_circles(tmp_path):
    pkg = tmp_path / "zelda_core"
    (pkg / "_engine").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "_engine/__init__.py": '_LAZY = {"Trainer": "zelda_core._engine.loop"}\n',
        # a function-level import closes the circle train -> loop -> evaluate -> train
        "_engine/train.py": "from .loop import Trainer\n",
        "_engine/loop.py": "from . import evaluate\n",
        "_engine/evaluate.py": "def f():\n    from .train import seed\n",
        # through a package's lazy table
        "_a.py": "from zelda_core._engine import Trainer\n",
        # TYPE_CHECKING imports do not run: no circle
        "_b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import _c\n",
        "_c.py": "from zelda_core import _b\n",
        "_d.py": "import zelda_core._e\n",
        "_e.py": "from ._d import x\n",
    }
    for rel, text in files.items():
        (pkg / rel).write_text(textwrap.dedent(text))
    graph = import_graph(tmp_path)
    assert graph["zelda_core._a"] == {"zelda_core._engine.loop"}
    assert cycles(graph) == [["zelda_core._d", "zelda_core._e"],
                             ["zelda_core._engine.evaluate", "zelda_core._engine.loop",
                              "zelda_core._engine.train"]]
