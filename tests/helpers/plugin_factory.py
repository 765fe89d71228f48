"""Build real installed distributions (dist-info + entry points) in a temp folder."""

from __future__ import annotations

import textwrap
from pathlib import Path


def make_dist(root: Path, dist: str, version: str, plugins: dict[str, str]) -> Path:
    """Write distribution ``dist`` with one module per plugin: {entry-point name: module code}."""
    root.mkdir(parents=True, exist_ok=True)
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = ["[zelda]"]
    for name, code in plugins.items():
        module = f"{dist.replace('-', '_')}_{name}"
        (root / f"{module}.py").write_text(textwrap.dedent(code))
        lines.append(f"{name} = {module}")
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return root
