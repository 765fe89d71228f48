"""The tutorial recipe reports only metrics that mean something on its data: no top-k with
k at or above kinetics400_tiny's class count (2), which would always read 1.0."""

from __future__ import annotations

from pathlib import Path

from zelda_core import load_recipe
from zelda_core._engine.download import EMBEDDED

REPO = Path(__file__).resolve().parents[2]


def test_tutorial_recipe_reports_no_trivial_top_k() -> None:
    classes = (EMBEDDED / "label_map.txt").read_text().split("\n")
    num_classes = len([c for c in classes if c.strip()])
    assert num_classes == 2  # kinetics400_tiny's classes, as the embedded copy has them
    for name in ("kinetics_tiny", "kinetics_tiny_tuned"):
        data = load_recipe(REPO / "recipes" / f"{name}.toml").data
        for table in data["metrics"].values():
            if table["type"] == "top_k_accuracy":
                ks = [table["k"]] if isinstance(table["k"], int) else table["k"]
                assert max(ks) < num_classes, f"{name}: top-k with k={ks} on {num_classes} classes"
