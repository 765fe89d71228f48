"""What an exported model carries: how to feed it and where it came from.

The same dict is stored in the ONNX file's ``metadata_props`` (one entry per key, values
JSON-encoded) or, for TorchScript and ``torch.export`` files, in a JSON sidecar
``<file>.json``. ``zelda predict`` rebuilds the test pipeline from ``pipeline``; people
and other runtimes read ``input``, ``labels``, ``sampling``, ``resize``, ``crop`` and
``mean``/``std``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .._errors import ZeldaError
from .._install import install_hint
from .._outputs import replacing, write_output

FORMATS = ("onnx", "torchscript", "torch-export")
METADATA_VERSION = 1


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (the source checkpoint's identity)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def atomic_target(path: str | Path, suffix: str = "", *, option: str | None = "--out",
                  inputs: Iterable[tuple[str, Any]] = ()) -> Iterator[Path]:
    """A temporary path beside ``path`` (ending in ``suffix``, for writers that look at the
    extension); renamed onto ``path`` when the block succeeds, removed otherwise, so no
    half-written or unverified file is ever left at ``path`` (``_outputs.replacing``)."""
    with replacing(path, suffix=suffix, option=option, inputs=inputs) as tmp:
        yield tmp


def write_json_atomic(path: str | Path, obj: Any, *, option: str | None = "--out",
                      inputs: Iterable[tuple[str, Any]] = ()) -> None:
    write_output(path, json.dumps(obj, indent=2) + "\n", option=option, inputs=inputs)


def sidecar_path(model_path: str | Path) -> Path:
    """``model.pt`` -> ``model.pt.json``."""
    p = Path(model_path)
    return p.with_name(p.name + ".json")


def to_props(meta: dict[str, Any]) -> dict[str, str]:
    """ONNX metadata_props: every value JSON-encoded (a consumer reads all with json.loads)."""
    return {k: json.dumps(v) for k, v in meta.items()}


def from_props(props: dict[str, str]) -> dict[str, Any]:
    """Inverse of :func:`to_props` (values that are not JSON stay strings)."""
    out: dict[str, Any] = {}
    for k, v in props.items():
        try:
            out[k] = json.loads(v)
        except (json.JSONDecodeError, TypeError):
            out[k] = v
    return out


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of an exported model (ONNX: its metadata_props; else the sidecar)."""
    path = Path(path)
    if not path.is_file():
        raise ZeldaError(f"{path}: no such file")
    if path.suffix.lower() == ".onnx":
        try:
            import onnx
        except ImportError:
            raise ZeldaError("reading an ONNX file needs the 'onnx' package: "
                             f"{install_hint('export')}") from None
        model = onnx.load(str(path), load_external_data=False)
        meta = from_props({p.key: p.value for p in model.metadata_props})
    else:
        side = sidecar_path(path)
        if not side.is_file():
            raise ZeldaError(f"{path}: its metadata sidecar {side} is missing (zelda export "
                             "writes it beside the model)")
        meta = json.loads(side.read_text(encoding="utf-8"))
    if "pipeline" not in meta or "labels" not in meta:
        raise ZeldaError(f"{path} was not exported by zelda export (its metadata has no "
                         "pipeline and labels)")
    return meta
