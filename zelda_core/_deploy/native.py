"""``zelda export --format NAME`` for a format the model writes itself: a library's own
folder (the ``zelda_transformers`` models write ``hf``, the folder ``transformers`` loads).

A model offers such formats with ``native_formats`` and writes them with
``export_native(fmt, directory, *, labels, preprocessing) -> dict``, returning the
``[model]`` table that builds the same model back from the folder (the folder named
``"."``). zelda writes into a temporary folder beside ``--out``, rebuilds the model from
it through the registry, runs both on the verification clips, and only then writes
``zelda_export.json`` (the metadata every export carries, plus that table) and moves the
folder into place. ``zelda predict FOLDER`` rebuilds the model the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import ZeldaError
from .._outputs import OutputPathError, check_output_folder, os_error_text

METADATA_FILE = "zelda_export.json"
HERE = "."
"""How a model's export table names the export folder."""


def native_formats(model: Any) -> tuple[str, ...]:
    """The formats ``model`` writes itself (its ``native_formats``; empty for most)."""
    formats = getattr(model, "native_formats", ()) or ()
    return tuple(f for f in formats if isinstance(f, str)) if callable(
        getattr(model, "export_native", None)) else ()


def is_native_export(path: str | Path) -> bool:
    return Path(path).is_dir() and (Path(path) / METADATA_FILE).is_file()


def resolve_table(table: Any, folder: Path) -> Any:
    """``table`` with every ``"."`` value replaced by ``folder``."""
    if isinstance(table, dict):
        return {k: resolve_table(v, folder) for k, v in table.items()}
    if isinstance(table, list):
        return [resolve_table(v, folder) for v in table]
    return str(folder) if table == HERE else table


def build_from_folder(table: dict[str, Any], folder: Path, *, where: str) -> Any:
    """The model an export's table builds from ``folder`` (eval mode, CPU, float32)."""
    from .._engine.build import build_model

    if not isinstance(table, dict) or not isinstance(table.get("type"), str):
        raise ZeldaError(f"{where}: its model table is {table!r:.80}, not a table with a type; "
                         "export it again")
    model = build_model(resolve_table(table, folder), file=where)
    return model.float().eval()


def _runner(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model.predict(torch.from_numpy(np.ascontiguousarray(x))).float().numpy()
    return run


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"--out {out} is a file; this format writes a folder: pass a "
                              "new or empty folder")
    if out.is_dir() and any(out.iterdir()) and not (out / METADATA_FILE).is_file():
        raise OutputPathError(f"--out {out} is a folder that is neither empty nor an earlier "
                              f"zelda export (no {METADATA_FILE}); pass a new or empty folder")


def export_native(model: Any, fmt: str, out: str | Path, *, labels: list[str],
                  preprocessing: dict[str, Any], batches: list[np.ndarray], meta: dict[str, Any],
                  tolerance: float, inputs: list[tuple[str, Any]],
                  log: Callable[[str], None]) -> Any:
    """Write, verify, then move the folder into place; returns the Verification."""
    from .export import ExportError, verify

    out = Path(out)
    check_output_folder(out, inputs=inputs)
    _check_target(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            table = model.export_native(fmt, tmp, labels=list(labels), preprocessing=preprocessing)
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - the plugin's own words, for people
            raise ExportError(f"writing the {fmt} folder failed: {type(exc).__name__}: {exc} "
                              "(--debug shows the traceback)") from exc
        rebuilt = build_from_folder(table, tmp, where=f"the {fmt} export")
        result = verify(model, _runner(rebuilt), batches, False)
        log(f"verify ({fmt} folder rebuilt against the checkpoint's model): {result.line()}")
        if not result.ok(tolerance):
            raise ExportError(
                f"the exported model does not reproduce the PyTorch model: {result.line()} "
                f"(tolerance {tolerance:g}); nothing was written to {out}")
        meta = {**meta, "model": table,
                "verification": {"clips": result.clips, "max_abs_diff": result.max_abs_diff,
                                 "top1_agree": result.top1_agree, "tolerance": tolerance}}
        with open(tmp / METADATA_FILE, "w", encoding="utf-8") as f:
            f.write(json.dumps(meta, indent=2) + "\n")
            f.flush()
            os.fsync(f.fileno())
        _check_target(out)
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise OutputPathError(os_error_text(exc, "write", out, "--out")) from exc
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp, ignore_errors=True)
    return result
