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
    """The metadata of an exported model (ONNX: its metadata_props, checked against the
    graph, whose weights must be finite; else the sidecar), checked key by key: a damaged
    or tampered file is one ZeldaError naming it, never a wrong label or a traceback."""
    from .native import METADATA_FILE

    path = Path(path)
    if path.is_dir() and (path / METADATA_FILE).is_file():  # a folder a model wrote itself
        model = None
        meta = _read_json(path / METADATA_FILE, path)
    elif not path.is_file():
        raise ZeldaError(f"{path}: no such file")
    elif path.suffix.lower() == ".onnx":
        try:
            import onnx
        except ImportError:
            raise ZeldaError("reading an ONNX file needs the 'onnx' package: "
                             f"{install_hint('export')}") from None
        try:
            model = onnx.load(str(path), load_external_data=False)
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and kin
            raise ZeldaError(f"{path} is not a readable ONNX file ({type(exc).__name__}: "
                             f"{_first_line(exc)}); it is damaged or truncated: export it "
                             "again") from None
        meta = from_props({p.key: p.value for p in model.metadata_props})
    else:
        model = None
        side = sidecar_path(path)
        if not side.is_file():
            raise ZeldaError(f"{path}: its metadata sidecar {side} is missing (zelda export "
                             "writes it beside the model)")
        meta = _read_json(side, path)
    if not isinstance(meta, dict) or "pipeline" not in meta or "labels" not in meta:
        raise ZeldaError(f"{path} was not exported by zelda export (its metadata has no "
                         "pipeline and labels)")
    check_metadata(meta, path)
    if model is not None:
        _check_onnx_graph(model, meta, path)
    return meta


def _read_json(side: Path, path: Path) -> Any:
    try:
        return json.loads(side.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ZeldaError(f"{side}: the metadata of {path} is not JSON ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_metadata(meta: dict[str, Any], path: str | Path) -> None:
    """ZeldaError naming the key when the metadata is not what zelda export writes."""
    def bad(key: str, expected: str) -> ZeldaError:
        return ZeldaError(f"{path}: metadata {key!r} is {meta.get(key)!r:.80}, expected "
                          f"{expected}; the file was changed after zelda export: export it again")

    native = isinstance(meta.get("model"), dict)  # a folder the model wrote (_deploy.native)
    if meta.get("format", "onnx") not in FORMATS and not (native and isinstance(meta.get("format"), str)):
        raise bad("format", f"one of {', '.join(FORMATS)}")
    labels = meta.get("labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise bad("labels", "a JSON list of class names")
    steps = meta.get("pipeline")
    if not isinstance(steps, list) or not all(isinstance(x, dict) and isinstance(x.get("type"), str)
                                              for x in steps):
        raise bad("pipeline", "a JSON list of transform tables")
    inp, out = meta.get("input"), meta.get("output")
    if not isinstance(inp, dict) or inp.get("layout") not in ("NCTHW", "NVCTHW") \
            or not isinstance(inp.get("shape"), list) or not inp["shape"] \
            or not (inp["shape"][0] == "N" or _positive_int(inp["shape"][0])):
        raise bad("input", "a table with layout NCTHW or NVCTHW and a shape [N or a batch size, ...]")
    if not isinstance(out, dict) or out.get("kind") not in ("probabilities", "scores") \
            or not isinstance(out.get("shape"), list) or len(out["shape"]) != 2:
        raise bad("output", "a table with kind probabilities or scores and a shape [N, K]")
    if out["shape"][1] != len(labels):
        raise ZeldaError(f"{path}: its metadata names {len(labels)} labels for "
                         f"{out['shape'][1]!r} outputs; the file was changed after zelda export: "
                         "export it again")
    for key in ("seed", "views"):
        if key in meta and not (isinstance(meta[key], int) and not isinstance(meta[key], bool)):
            raise bad(key, "an integer")
    if "decoder" in meta and not isinstance(meta["decoder"], (dict, type(None))):
        raise bad("decoder", "a table")


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _check_onnx_graph(model: Any, meta: dict[str, Any], path: str | Path) -> None:
    """The graph agrees with its metadata (one uint8 input of the stated rank, one output
    of as many classes as labels) and its weights are finite."""
    import numpy as np
    from onnx import TensorProto, numpy_helper

    graph = model.graph
    inits = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ZeldaError(f"{path}: the graph has {len(inputs)} inputs and {len(graph.output)} "
                         "outputs; zelda export writes one of each: export it again")
    rank = 5 if meta["input"]["layout"] == "NCTHW" else 6
    itype = inputs[0].type.tensor_type
    if itype.elem_type != TensorProto.UINT8 or len(itype.shape.dim) != rank:
        raise ZeldaError(f"{path}: the graph's input is not uint8 of rank {rank} as its metadata "
                         f"says ({meta['input']['layout']}); export it again")
    shape = meta["input"]["shape"]
    graph_shape = [d.dim_value if d.HasField("dim_value") else "N" for d in itype.shape.dim]
    if len(shape) != rank or any(isinstance(g, int) and g != m for g, m in zip(graph_shape, shape)):
        raise ZeldaError(f"{path}: its metadata says the input is {shape}, the graph takes "
                         f"{graph_shape}; the file was changed after zelda export: export it again")
    dims = graph.output[0].type.tensor_type.shape.dim
    k = dims[1].dim_value if len(dims) == 2 and dims[1].HasField("dim_value") else None
    if k is not None and k != len(meta["labels"]):
        raise ZeldaError(f"{path}: the graph gives {k} scores but its metadata names "
                         f"{len(meta['labels'])} labels; export it again")
    for init in graph.initializer:
        if init.data_type not in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16,
                                  TensorProto.BFLOAT16):
            continue
        try:
            values = numpy_helper.to_array(init)
        except Exception:  # noqa: BLE001 - external or odd data: onnxruntime checks it
            continue
        if not np.isfinite(np.asarray(values, dtype=np.float64)).all():
            raise ZeldaError(f"{path} has NaN or infinite weights ({init.name}); every "
                             "prediction would be NaN. Export a checkpoint with finite weights")
