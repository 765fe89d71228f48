"""The path a recipe takes through the engine: which ``zelda_core._engine`` modules a tiny
real ``run_training`` enters, in order, from ``run_training`` to the first metric.

A *stay* is a call into an engine module from another engine module (``sys.setprofile``
call events; a module's own calls and module-level import code are not stays), with
consecutive stays in the same module merged. ``returns`` counts stays in a module the
path had already left. Run as a script to print the numbers of the checkout on
``PYTHONPATH`` (``python tests/helpers/engine_path.py``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ENGINE = "zelda_core._engine"


def trace(fn: Any, *, start: str | None = None, stop: str | None = None) -> list[tuple[str, str, bool]]:
    """(module, function, from another engine module) of every call into an engine module
    while ``fn()`` runs: from the first call of the function ``start`` (None: from the
    beginning) until the first call of ``stop`` (included; None: to the end)."""
    calls: list[tuple[str, str, bool]] = []
    state = {"on": start is None, "done": False}

    def engine_caller(frame: Any) -> str:
        while frame is not None:
            name = frame.f_globals.get("__name__", "")
            if name.startswith(ENGINE):
                return name
            frame = frame.f_back
        return ""

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event != "call" or state["done"]:
            return
        module, function = frame.f_globals.get("__name__", ""), frame.f_code.co_name
        if function == start and module.startswith(ENGINE):
            state["on"] = True
        if not state["on"] or not module.startswith(ENGINE) or function == "<module>":
            return
        if function == stop:
            state["done"] = True
        calls.append((module, function, engine_caller(frame.f_back) != module))

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return calls


def trace_run(tmp: Path) -> list[tuple[str, str, bool]]:
    """(module, function, from another engine module) of every call into an engine
    module from ``run_training`` until the first metric is computed, over a one-step run."""
    from engine_util import make_dataset, small_recipe

    from zelda_core._engine.train import run_training
    from zelda_core._recipe import load_recipe

    root = make_dataset(tmp / "data", n_train=2, n_val=2)
    recipe = load_recipe(small_recipe(tmp / "r.toml", root, tmp / "work", epochs=1), ["train.threads=1"])
    old = os.environ.get("ZELDA_PLOTS")
    os.environ["ZELDA_PLOTS"] = "0"
    try:
        # _merge_metrics: the metrics' compute(), the first metric
        return trace(lambda: run_training(recipe, work_dir=tmp / "work"), start="run_training",
                     stop="_merge_metrics")
    finally:
        if old is None:
            os.environ.pop("ZELDA_PLOTS")
        else:
            os.environ["ZELDA_PLOTS"] = old


def stays(calls: list[tuple[str, str, bool]]) -> list[str]:
    """The modules entered from another module (short names), consecutive repeats merged."""
    out: list[str] = []
    for module, _, cross in calls:
        if not cross:
            continue
        short = module.rpartition(".")[2]
        if not out or out[-1] != short:
            out.append(short)
    return out


def until(calls: list[tuple[str, str, bool]], function: str) -> list[tuple[str, str, bool]]:
    """``calls`` before the first call of ``function`` (e.g. ``train_epoch``: the first batch)."""
    for i, (_, f, _) in enumerate(calls):
        if f == function:
            return calls[:i]
    return calls


def summary(path: list[str]) -> dict[str, Any]:
    entered = Counter(path)
    return {"stays": len(path), "modules": len(entered), "returns": len(path) - len(entered),
            "entered": dict(entered.most_common())}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    with tempfile.TemporaryDirectory() as d:
        calls = trace_run(Path(d))
    for label, part in (("to the first batch", until(calls, "train_epoch")), ("to the first metric", calls)):
        path = stays(part)
        print(f"{label}: {summary(path)}")
        print("   " + " -> ".join(path))
