"""``zelda export --format NAME`` for a format the model writes itself: a library's own
folder (the ``zelda_transformers`` models write ``hf``, the folder ``transformers`` loads).

A model offers such formats with ``native_formats`` and writes them with
``export_native(fmt, directory, *, labels, preprocessing) -> dict``, returning the
``[model]`` table that builds the same model back from the folder (the folder named
``"."``). zelda writes into a temporary folder beside ``--out``, rebuilds the model from
it through the registry, runs both on the verification clips (``export.py``), and only
then writes ``zelda_export.json`` (the metadata every export carries, plus that table) and moves the
folder into place. ``zelda predict FOLDER`` rebuilds the model the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def runner(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """uint8 (N, V, C, T, H, W) array -> the rebuilt model's (N, K) scores."""
    import numpy as np
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


def write(model: Any, fmt: str, directory: Path, *, labels: list[str],
          preprocessing: dict[str, Any]) -> dict[str, Any]:
    """The model's own files in ``directory``; returns its table (checked)."""
    try:
        table = model.export_native(fmt, directory, labels=list(labels), preprocessing=preprocessing)
    except (ZeldaError, OSError):
        raise
    except Exception as exc:  # noqa: BLE001 - the plugin's own words, for people
        raise ZeldaError(f"writing the {fmt} folder failed: {type(exc).__name__}: {exc} "
                         "(--debug shows the traceback)") from exc
    if not isinstance(table, dict) or not isinstance(table.get("type"), str):
        raise ZeldaError(f"{type(model).__name__}.export_native returned {table!r:.80}, not a "
                         "[model] table with a type")
    return table


def write_metadata(directory: Path, meta: dict[str, Any]) -> None:
    with open(directory / METADATA_FILE, "w", encoding="utf-8") as f:
        f.write(json.dumps(meta, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def staged_folder(out: str | Path, *, inputs: list[tuple[str, Any]]) -> Iterator[Path]:
    """A temporary folder beside ``out``, moved onto it when the block succeeds (an earlier
    export there is replaced) and removed otherwise: no half-written or unverified folder
    is ever left at ``out``."""
    out = Path(out)
    check_output_folder(out, inputs=inputs)
    _check_target(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        yield tmp
        _check_target(out)
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise OutputPathError(os_error_text(exc, "write", out, "--out")) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
