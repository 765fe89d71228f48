"""The plugin boundary, enforced over every module of the tree (AST, nothing imported).

- ``zelda_core`` imports neither a decoder library (av, decord) nor a bundled or example
  plugin, by ``import``, by ``importlib.import_module``/``__import__`` or by a lazy
  ``"module:attr"`` string.
- A bundled plugin (every package under ``plugins/``), everything under ``examples/``,
  the conformance kit ``zelda_testing`` and the decoder authors' library
  ``zelda_decoding`` import from ``zelda_core`` only its public API: ``zelda_core``,
  ``zelda_core.api`` and ``zelda_core.testing``, and no underscore name through them. The
  core imports neither ``zelda_testing`` nor ``zelda_decoding`` (which uses av).
- No plugin imports another plugin's modules, and neither the kit nor ``zelda_decoding``
  imports a plugin: what decoders share lives in ``zelda_decoding`` (docs/decoders.md).

The checker is shown to catch each kind of violation on generated modules.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

DECODER_LIBRARIES = {"av", "decord", "torchcodec"}
BUNDLED_PLUGINS = {"zelda_pyav", "zelda_decord", "zelda_torchcodec", "zelda_transforms", "zelda_datasets",
                   "zelda_conv3d", "zelda_metrics"}
PUBLIC_CORE = {"zelda_core", "zelda_core.api", "zelda_core.testing"}
CLIENTS = ("plugins", "examples", "zelda_testing", "zelda_decoding")
"""Folders whose modules use the core through its public API only."""
KIT = "zelda_testing"
LIBRARIES = {KIT, "zelda_decoding"}
"""Shipped packages that are neither the core nor a plugin: any plugin may import them."""
IMPORT_CALLS = {"import_module", "__import__", "find_spec"}
MODULE_STRING = re.compile(r"^[A-Za-z_]\w*(\.\w+)*(:[\w.]+)?$")


def plugin_packages(root: Path) -> set[str]:
    """Top-level packages under plugins/ and examples/ (and the bundled names)."""
    found = set(BUNDLED_PLUGINS)
    for base in (root / "plugins", root / "examples"):
        found |= {p.parent.name for p in base.glob("**/__init__.py")
                  if not (p.parent.parent / "__init__.py").exists()}
    return found


def package_dir(path: Path) -> Path | None:
    """The top-level package directory ``path`` belongs to (None: a loose script)."""
    top, here = None, path.parent
    while (here / "__init__.py").exists():
        top, here = here, here.parent
    return top


def imported(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """(line, module, name) for every import of ``path``: ``import m`` gives (m, None),
    ``from m import a`` gives (m, a); import calls with a constant argument and dotted or
    ``module:attr`` string constants (lazy targets) give (module, None)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    top = package_dir(path)
    here = list(path.relative_to(top.parent).with_suffix("").parts) if top else [path.stem]
    package = here[:-1] if here[-1] != "__init__" else here[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolved inside the module's own package
                base = package[:len(package) - (node.level - 1)]
                module = ".".join(base + ([module] if module else []))
            for alias in node.names:
                yield node.lineno, module, alias.name
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0] if node.args else None
            if name in IMPORT_CALLS and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                yield node.lineno, arg.value, None
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if ("." in text or ":" in text) and MODULE_STRING.match(text):
                yield node.lineno, text.partition(":")[0], None


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def violations(root: Path) -> list[str]:
    """Every boundary violation under ``root`` (a checkout), as "path:line: what"."""
    plugins = plugin_packages(root)
    forbidden = DECODER_LIBRARIES | plugins | LIBRARIES
    problems = []
    for path in sorted((root / "zelda_core").rglob("*.py")):
        for line, module, _ in imported(path):
            if _top(module) in forbidden:
                problems.append(f"{path.relative_to(root)}:{line}: the core imports {module}")
    for base in (root / c for c in CLIENTS):
        for path in sorted(base.rglob("*.py")):
            top = package_dir(path)
            own = top.name if top else None
            for line, module, name in imported(path):
                if _top(module) in plugins and _top(module) != own:
                    problems.append(f"{path.relative_to(root)}:{line}: {own or 'a script'} imports "
                                    f"{module}, a module of another plugin (shared code belongs "
                                    "in zelda_decoding or the core's public API)")
                    continue
                if _top(module) != "zelda_core":
                    continue
                if module in PUBLIC_CORE and not (name or "").startswith("_"):
                    continue
                what = f"{module}.{name}" if name else module
                problems.append(f"{path.relative_to(root)}:{line}: a plugin imports {what} "
                                f"(public: {', '.join(sorted(PUBLIC_CORE))})")
    return sorted(set(problems))


def test_the_tree_keeps_the_boundary():
    assert violations(REPO) == []


def test_the_checker_sees_the_whole_tree():
    assert {"zelda_pyav", "zelda_decord", "zelda_transforms", "zelda_plugin_example"} <= plugin_packages(REPO)
    seen = {(module, name) for _, module, name in imported(REPO / "plugins/zelda_transforms/loading.py")}
    assert ("zelda_core.api", "DecodeError") in seen and ("zelda_transforms.geometry", "Resize") in seen


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_the_checker_catches_violations_on_generated_modules(tmp_path):
    _write(tmp_path, {
        "zelda_core/__init__.py": "from .api import hookimpl\n",
        "zelda_core/api.py": "from ._video import open_video\n",
        "zelda_core/_video.py": "import math\n",
        "zelda_core/_sub/__init__.py": "",
        "zelda_core/_sub/ok.py": "from .. import _video\nfrom ..api import hookimpl\n",
        "zelda_core/_sub/bad_import.py": "import av\n",
        "zelda_core/_sub/bad_from.py": "from decord import VideoReader\n",
        "zelda_core/_sub/bad_plugin.py": "from zelda_pyav.index import get_index\n",
        "zelda_core/_sub/bad_lazy.py": 'TARGETS = {"init": "zelda_transforms.loading:Init"}\n',
        "zelda_core/_sub/bad_call.py": 'import importlib\nimportlib.import_module("zelda_newplugin.x")\n',
        "zelda_core/_sub/bad_kit.py": "from zelda_testing import check_decoder\n",
        "zelda_core/_sub/fine_prose.py": '"""The pyav plugin (see zelda_pyav) decodes. av is used there."""\n',
        "plugins/zelda_newplugin/__init__.py": "from zelda_core.api import hookimpl\nfrom zelda_core import VideoReader\n",
        "plugins/zelda_newplugin/ok.py": "from . import helpers\nfrom zelda_core.testing import check_decoder\n",
        "plugins/zelda_newplugin/helpers.py": "",
        "plugins/zelda_newplugin/bad_private.py": "from zelda_core._video import VideoReader\n",
        "plugins/zelda_newplugin/bad_hookspecs.py": "import zelda_core.hookspecs\n",
        "plugins/zelda_newplugin/bad_name.py": "from zelda_core import _registry\n",
        "plugins/zelda_newplugin/bad_lazy.py": 'T = "zelda_core._data.dataset:check_files"\n',
        "examples/my-plugin/my_plugin/__init__.py": "from zelda_core.api import hookimpl\n",
        "examples/my-plugin/my_plugin/bad.py": "from zelda_core._engine import runner\n",
        "examples/my-plugin/smoke.py": "from zelda_core import build\nfrom zelda_core._params import check_params\n",
        "zelda_testing/__init__.py": "from zelda_core.api import DecodeError\nfrom .media import make_video\n",
        "zelda_testing/media.py": "",
        "zelda_testing/bad.py": "from zelda_core._registry import build\n",
        "zelda_testing/bad_plugin.py": "from zelda_pyav.reader import PyAVReader\n",
        "zelda_core/_sub/bad_decoding.py": "from zelda_decoding.index import get_index\n",
        "zelda_decoding/__init__.py": "",
        "zelda_decoding/index.py": "from zelda_core.api import DecodeError\nimport av\n",
        "zelda_decoding/bad_private.py": "from zelda_core._video import VideoReader\n",
        "zelda_decoding/bad_plugin.py": "from zelda_pyav import reader\n",
        "plugins/zelda_pyav/__init__.py": "from zelda_decoding.index import get_index\n",
        "plugins/zelda_pyav/reader.py": "from zelda_pyav.intra import decode_direct\nfrom .rgb import x\n",
        "plugins/zelda_decord/__init__.py": "",
        "plugins/zelda_decord/bad_import.py": "from zelda_pyav.index import get_index\n",
        "plugins/zelda_decord/bad_module.py": "import zelda_pyav.reader\n",
        "plugins/zelda_decord/bad_lazy.py": 'R = "zelda_pyav.reader:PyAVReader"\n',
        "plugins/zelda_decord/bad_call.py": 'import importlib\nimportlib.import_module("zelda_newplugin.helpers")\n',
        "examples/my-plugin/my_plugin/bad_plugin.py": "from zelda_decord.feed import Feeder\n",
    })
    found = violations(tmp_path)
    flagged = {line.split(":", 1)[0] for line in found}
    assert flagged == {
        "zelda_core/_sub/bad_import.py", "zelda_core/_sub/bad_from.py",
        "zelda_core/_sub/bad_plugin.py", "zelda_core/_sub/bad_lazy.py",
        "zelda_core/_sub/bad_call.py", "zelda_core/_sub/bad_kit.py", "zelda_testing/bad.py",
        "plugins/zelda_newplugin/bad_private.py", "plugins/zelda_newplugin/bad_hookspecs.py",
        "plugins/zelda_newplugin/bad_name.py", "plugins/zelda_newplugin/bad_lazy.py",
        "examples/my-plugin/my_plugin/bad.py", "examples/my-plugin/smoke.py",
        "zelda_testing/bad_plugin.py", "zelda_core/_sub/bad_decoding.py",
        "zelda_decoding/bad_private.py", "zelda_decoding/bad_plugin.py",
        "plugins/zelda_decord/bad_import.py", "plugins/zelda_decord/bad_module.py",
        "plugins/zelda_decord/bad_lazy.py", "plugins/zelda_decord/bad_call.py",
        "examples/my-plugin/my_plugin/bad_plugin.py",
    }, "\n".join(found)
    assert any("zelda_decord imports zelda_pyav.index, a module of another plugin" in p
               for p in found)
    assert any("the core imports zelda_pyav.index" in p for p in found)
    assert any("zelda_core._params" in p for p in found)


FOREIGN_PRIVATE_ALLOWED = {
    ("plugins/zelda_pyav/bench_decode_cmd.py", "argparse._SubParsersAction"): "stdlib's type, in an annotation",
    ("plugins/zelda_pyav/prepare_cmd.py", "argparse._SubParsersAction"): "stdlib's type, in an annotation",
    ("plugins/zelda_torchvision/models.py", "module._mvit"): "torchvision's MViT builder, patched for other sizes",
    ("plugins/zelda_pyav/encode.py", "copy._index"): "its own plugin's reader verifies a copy by a fresh, uncached index",
    ("plugins/zelda_pyav/reader.py", "super()._resize_shown"): "the base class's hook, extended by its override",
}
"""``x._name`` on something other than ``self``/``cls`` that is allowed, with why."""


def foreign_private(root: Path) -> list[str]:
    """Every ``x._name`` (x not ``self``/``cls``) in plugins, examples and the shipped
    libraries: one module reading or writing another object's private state."""
    found = []
    for base in (root / c for c in CLIENTS):
        for path in sorted(base.rglob("*.py")):
            rel = str(path.relative_to(root))
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                        and not node.attr.startswith("__")):
                    continue
                if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    continue
                if (rel, ast.unparse(node)) not in FOREIGN_PRIVATE_ALLOWED:
                    found.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_touches_another_objects_private_state():
    """zelda_pyav's intra paths once read and wrote the reader's _direct, _index, _cc,
    _cursor and _fed: shared state is passed in, or is public."""
    assert foreign_private(REPO) == []


def test_the_private_state_check_catches_it(tmp_path):
    _write(tmp_path, {
        "plugins/zelda_x/__init__.py": "",
        "plugins/zelda_x/intra.py": "def f(reader):\n    reader._fed = None\n    return reader._cc\n",
        "plugins/zelda_x/ok.py": "class A:\n    def f(self):\n        return self._cc\n",
    })
    assert [p.split(": ", 1)[1] for p in foreign_private(tmp_path)] == ["reader._fed", "reader._cc"]
