"""``zelda export``: the model with its preprocessing as ONNX, TorchScript or torch.export,
verified against the PyTorch model before the file appears.

The exported graph takes the loader's uint8 frames, ``(N, V, C, T, H, W)`` (or
``(N, C, T, H, W)`` when exported with one view), RGB 0-255, and returns ``(N, K)``
scores with the views averaged as the model does (probabilities for
``average_clips = "prob"``). The cast and mean/std normalisation run inside the graph.
"""

from __future__ import annotations

import io
import os
import platform
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._errors import ZeldaError
from .._install import install_hint
from .._outputs import check_output_file, check_output_folder
from . import spec
from .metadata import FORMATS, atomic_target, file_sha256, sidecar_path, to_props, write_json_atomic

INPUT_NAME = "frames"
OUTPUT_NAME = "scores"
ONNX_OPSET = 17


class ExportError(ZeldaError):
    """The export failed or the exported model does not reproduce the PyTorch model."""


class FramesToScores(torch.nn.Module):
    """uint8 frames -> (N, K) scores through the model's own ``predict`` (preprocessing,
    backbone, head, view averaging)."""

    def __init__(self, model: torch.nn.Module, single_view: bool) -> None:
        super().__init__()
        self.model = model
        self.single_view = single_view

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if self.single_view:
            frames = frames.unsqueeze(1)
        return self.model.predict(frames)


@dataclass
class Verification:
    """Exported artefact against the PyTorch model on the same uint8 clips."""

    clips: int
    max_abs_diff: float
    top1_agree: int
    videos: list[str] = field(default_factory=list)

    def ok(self, tolerance: float) -> bool:
        return self.max_abs_diff <= tolerance and self.top1_agree == self.clips

    def line(self) -> str:
        return (f"{self.clips} clips: max abs score difference {self.max_abs_diff:.2e}, "
                f"top-1 agrees on {self.top1_agree}/{self.clips}")


# --- running an exported file ------------------------------------------------------------

def load_runner(path: str | Path, fmt: str) -> Callable[[np.ndarray], np.ndarray]:
    """A function uint8 array -> float32 scores running the exported file as a consumer would
    (onnxruntime for ONNX; torch.jit.load; torch.export.load)."""
    path = str(path)
    try:
        if fmt == "onnx":
            ort = _import("onnxruntime")
            so = ort.SessionOptions()
            so.log_severity_level = 3
            sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
            name = sess.get_inputs()[0].name

            def run_onnx(x: np.ndarray) -> np.ndarray:
                return np.asarray(sess.run(None, {name: x})[0], dtype=np.float32)
            return _named_errors(run_onnx, path)
        if fmt == "torchscript":
            module = torch.jit.load(path, map_location="cpu").eval()
        elif fmt == "torch-export":
            module = torch.export.load(path).module()
        else:
            raise ExportError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    except (ZeldaError, OSError):
        raise
    except Exception as exc:  # noqa: BLE001 - onnxruntime's Fail/InvalidGraph, torch's loaders
        raise ExportError(f"{path} cannot be loaded as {fmt} ({type(exc).__name__}: "
                          f"{_first_line(exc)}); it is damaged or was changed after zelda "
                          "export: export it again") from None

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(np.ascontiguousarray(x))).float().numpy()
    return _named_errors(run, path)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _named_errors(run: Callable[[np.ndarray], np.ndarray], path: str) -> Callable[[np.ndarray], np.ndarray]:
    """``run`` whose failures (onnxruntime's InvalidArgument for a graph that does not take
    the prepared clips...) are one ExportError naming the file."""
    def guarded(x: np.ndarray) -> np.ndarray:
        try:
            return run(x)
        except Exception as exc:  # noqa: BLE001 - the runtime's own words, for people
            raise ExportError(f"{path} could not run on clips of shape {tuple(x.shape)} "
                              f"({type(exc).__name__}: {_first_line(exc)}); its graph does not "
                              "match its metadata: export it again") from None
    return guarded


def _import(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise ExportError(f"this needs the '{name}' package: {install_hint('export')} "
                          "(onnx and onnxruntime)") from None


# --- writing -------------------------------------------------------------------------------

def _write_onnx(module: torch.nn.Module, example: torch.Tensor, tmp: Path, dynamic_batch: bool,
                meta: dict[str, Any]) -> None:
    onnx = _import("onnx")
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    # The TorchScript-based exporter: the dynamo one needs onnxscript and gives the same
    # graph for these convolutional models.
    buffer = io.BytesIO()  # in memory: only Python writes the file (a full disk fails cleanly)
    torch.onnx.export(module, (example,), buffer, input_names=[INPUT_NAME],
                      output_names=[OUTPUT_NAME], dynamic_axes=axes, opset_version=ONNX_OPSET,
                      dynamo=False)
    model = onnx.load_from_string(buffer.getvalue())
    del model.metadata_props[:]
    for k, v in to_props(meta).items():
        model.metadata_props.add(key=k, value=v)
    model.producer_name = "zelda"
    _write_file(tmp, model.SerializeToString())


def _write_torchscript(module: torch.nn.Module, example: torch.Tensor, tmp: Path) -> None:
    with torch.no_grad():
        traced = torch.jit.trace(module, (example,), check_trace=False)
    buffer = io.BytesIO()  # torch.jit.save to a path aborts the process on a full disk
    torch.jit.save(traced, buffer)
    _write_file(tmp, buffer.getvalue())


def _write_torch_export(module: torch.nn.Module, example: torch.Tensor, tmp: Path,
                        dynamic_batch: bool) -> None:
    shapes = None
    if dynamic_batch:
        shapes = ({0: torch.export.Dim("batch", min=1, max=1024)},)
    with torch.no_grad():
        program = torch.export.export(module, (example,), dynamic_shapes=shapes)
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    _write_file(tmp, buffer.getvalue())


def _write_file(path: Path, data: bytes) -> None:
    """``data`` to ``path`` by Python's own file I/O, which reports a full disk as an
    OSError (native writers abort the process or leave a torn file), fsynced."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _check_options(*, clip_len: int | None, size: int | None, verify_clips: int,
                   tolerance: float) -> None:
    """Option values that would be ignored, or make the verification meaningless."""
    import math

    if clip_len is not None and clip_len < 1:
        raise ExportError(f"--clip-len must be >= 1 frame, got {clip_len}")
    if size is not None and size < 1:
        raise ExportError(f"--size must be >= 1 pixel, got {size}")
    if verify_clips < 1:
        raise ExportError(f"--verify-clips must be >= 1 (the export is verified on real "
                          f"videos before it is written), got {verify_clips}")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ExportError(f"--tolerance must be a finite number >= 0, got {tolerance}")


# --- the command ---------------------------------------------------------------------------

def export_checkpoint(checkpoint: str | Path, out: str | Path, *, fmt: str,
                      clip_len: int | None = None, size: int | None = None,
                      views: int | None = None, dynamic_batch: bool = False,
                      verify_videos: list[str] | None = None, verify_clips: int = 8,
                      data_root: str | None = None, tolerance: float = 1e-4,
                      log: Callable[[str], None] = print) -> dict[str, Any]:
    """Export, verify, then move the file (and its sidecar) into place. Returns a report."""
    from .. import __version__
    from .._engine.build import model_from_checkpoint
    from .labels import class_names
    from .native import native_formats

    native = fmt not in FORMATS  # a format the model writes itself, checked once it is built
    _check_options(clip_len=clip_len, size=size, verify_clips=verify_clips, tolerance=tolerance)
    if fmt == "onnx":  # fail before any work when the extra is missing
        _import("onnx")
        _import("onnxruntime")
    out = Path(out)
    inputs = [("the checkpoint", checkpoint)] + [("a verification video", v) for v in verify_videos or []]
    if native:  # before any work: an output never lands on an input
        check_output_folder(out, inputs=inputs)
    else:
        check_output_file(out, inputs=inputs)
    if fmt not in ("onnx", *([] if not native else [fmt])):
        check_output_file(sidecar_path(out), inputs=inputs, option="--out's metadata file")
    model, ckpt = model_from_checkpoint(checkpoint, device="cpu")
    model.float().eval()
    if native and fmt not in native_formats(model):
        offered = native_formats(model)
        raise ExportError(f"unknown --format {fmt!r}; use one of {', '.join(FORMATS + offered)}"
                          + ("" if offered else " (no other format is offered by this model)"))
    recipe = ckpt["recipe"]
    num_classes = int(getattr(model, "num_classes", 0) or 0)
    labels, note = class_names(list(ckpt.get("classes") or []), recipe, num_classes or None)
    if note:
        log(note)
    split, steps = spec.test_steps(recipe, source=str(checkpoint))
    where = spec.roles(steps)
    num_clips = None
    if views is not None:
        if views < 1:
            raise ExportError(f"--views must be >= 1, got {views}")
        if "sampler" not in where:
            raise ExportError("--views needs a frame sampler in the test pipeline")
        old_clips = int(steps[where["sampler"]].get("num_clips", 1))
        crops = _crops_per_clip(steps, recipe, verify_videos, data_root, old_clips)
        if views % crops:
            raise ExportError(f"--views {views}: the test pipeline makes {crops} crops per clip, "
                              f"so views must be a multiple of {crops}")
        num_clips = views // crops
    steps = spec.adapt(steps, clip_len=clip_len, size=size, num_clips=num_clips)
    clips, videos = verification_clips(recipe, steps, verify_videos, verify_clips, data_root, split)
    inputs += [("a verification video", v) for v in videos]
    if not native:
        check_output_file(out, inputs=inputs)
    v = clips[0].shape[0]
    single = v == 1 and not native  # a native folder is a PyTorch model: (N, V, ...) always
    dynamic_batch = dynamic_batch or native
    shape = tuple(clips[0].shape[1:] if single else clips[0].shape)
    log(f"input: uint8 ({'N' if dynamic_batch else 1}, {', '.join(map(str, shape))}) "
        f"{'(N, C, T, H, W)' if single else '(N, V, C, T, H, W)'}; {len(clips)} verification "
        f"clips from {len(videos)} videos")
    module = FramesToScores(model, single).eval()
    batch = _batches(clips, single, dynamic_batch)
    example = torch.from_numpy(batch[0][:2] if dynamic_batch else batch[0])
    if dynamic_batch and example.shape[0] < 2:  # torch.export specialises a batch of 1
        example = torch.cat([example, example])
    multi_label = bool(getattr(model, "multi_label", False))  # per-class sigmoids, views averaged
    meta = {
        "zelda_metadata": 1, "format": fmt,
        "input_name": INPUT_NAME, "output_name": OUTPUT_NAME,
        "input": {"dtype": "uint8", "layout": "NCTHW" if single else "NVCTHW",
                  "shape": ["N" if dynamic_batch else 1, *shape], "channels": "RGB",
                  "range": [0, 255]},
        "output": {"kind": "probabilities" if model.average_clips == "prob" or multi_label
                   else "scores", "shape": ["N" if dynamic_batch else 1, num_classes],
                   "multi_label": multi_label},
        "labels": labels, **spec.describe(steps, recipe, model),
        "views": v, "pipeline": steps, "split": split,
        "decoder": _decoder(recipe), "seed": int(recipe.get("seed", 0)),
        "zelda_version": __version__, "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "checkpoint": Path(checkpoint).name, "checkpoint_sha256": file_sha256(checkpoint),
    }
    if native:
        result = _export_native(model, fmt, out, labels=labels, preprocessing=spec.describe(
            steps, recipe, model), batches=batch, meta=meta, tolerance=tolerance,
            inputs=inputs, log=log)
        result.videos = videos
        return {"out": str(out), "metadata": meta, "verification": result}
    suffix = {"onnx": ".onnx", "torchscript": ".pt", "torch-export": ".pt2"}[fmt]
    with atomic_target(out, suffix, inputs=inputs) as tmp, warnings.catch_warnings():
        # shape checks in Python turn into constants in a trace: verification below is
        # what proves the traced graph right for the exported input shape
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        try:
            if fmt == "onnx":
                _write_onnx(module, example, tmp, dynamic_batch, meta)
            elif fmt == "torchscript":
                _write_torchscript(module, example, tmp)
            else:
                _write_torch_export(module, example, tmp, dynamic_batch)
        except (ZeldaError, OSError):  # OSError: writing the file; replacing() names it
            raise
        except Exception as exc:  # noqa: BLE001 - the exporter's own message, for people
            raise ExportError(f"exporting {checkpoint} as {fmt} failed: {type(exc).__name__}: "
                              f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                              " (--debug shows the traceback)") from exc
        result = verify(model, load_runner(tmp, fmt), batch, single)
        result.videos = videos
        log(f"verify ({fmt} against PyTorch): {result.line()}")
        if not result.ok(tolerance):
            raise ExportError(
                f"the exported model does not reproduce the PyTorch model: {result.line()} "
                f"(tolerance {tolerance:g}); nothing was written to {out}")
        meta["verification"] = {"clips": result.clips, "max_abs_diff": result.max_abs_diff,
                                "top1_agree": result.top1_agree, "tolerance": tolerance}
        if fmt != "onnx":
            write_json_atomic(sidecar_path(out), meta, option="--out's metadata file",
                              inputs=inputs)
        else:
            _set_onnx_prop(tmp, "verification", meta["verification"])
    return {"out": str(out), "metadata": meta, "verification": result}


def _export_native(model: torch.nn.Module, fmt: str, out: Path, *, labels: list[str],
                   preprocessing: dict[str, Any], batches: list[np.ndarray], meta: dict[str, Any],
                   tolerance: float, inputs: list[tuple[str, Any]],
                   log: Callable[[str], None]) -> Verification:
    """The model's own folder (``native``): written, rebuilt through the registry and
    verified against the checkpoint's model before it appears at ``out``."""
    from . import native

    with native.staged_folder(out, inputs=inputs) as tmp:
        table = native.write(model, fmt, tmp, labels=labels, preprocessing=preprocessing)
        rebuilt = native.build_from_folder(table, tmp, where=f"the {fmt} export")
        result = verify(model, native.runner(rebuilt), batches, False)
        log(f"verify ({fmt} folder rebuilt against the checkpoint's model): {result.line()}")
        if not result.ok(tolerance):
            raise ExportError(
                f"the exported model does not reproduce the PyTorch model: {result.line()} "
                f"(tolerance {tolerance:g}); nothing was written to {out}")
        meta["model"] = table
        meta["verification"] = {"clips": result.clips, "max_abs_diff": result.max_abs_diff,
                                "top1_agree": result.top1_agree, "tolerance": tolerance}
        native.write_metadata(tmp, meta)
    return result


def _set_onnx_prop(path: Path, key: str, value: Any) -> None:
    onnx = _import("onnx")
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    props.update(to_props({key: value}))
    del model.metadata_props[:]
    for k, v in props.items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, str(path))


def _decoder(recipe: dict[str, Any]) -> dict[str, Any]:
    from .._data import decoder_spec

    return decoder_spec(recipe.get("data") or {})


def _batches(clips: list[np.ndarray], single: bool, dynamic: bool) -> list[np.ndarray]:
    """Model inputs: one clip per batch for a fixed batch of 1, else all clips together."""
    arrays = [c[0] if single else c for c in clips]
    if dynamic:
        return [np.stack(arrays)]
    return [a[None] for a in arrays]


def verify(model: torch.nn.Module, runner: Callable[[np.ndarray], np.ndarray],
           batches: list[np.ndarray], single: bool) -> Verification:
    """Run the exported artefact and the PyTorch model (fp32, CPU) on the same batches."""
    diff, agree, n = 0.0, 0, 0
    for b in batches:
        x = torch.from_numpy(b)
        if single:
            x = x.unsqueeze(1)
        with torch.inference_mode():
            ref = model.predict(x).float().numpy()
        got = runner(b)
        if got.shape != ref.shape:
            raise ExportError(f"the exported model returned shape {got.shape}, PyTorch {ref.shape}")
        diff = max(diff, float(np.abs(got - ref).max()))
        agree += int((got.argmax(1) == ref.argmax(1)).sum())
        n += ref.shape[0]
    return Verification(clips=n, max_abs_diff=diff, top1_agree=agree)


def verification_clips(recipe: dict[str, Any], steps: list[dict], videos: list[str] | None,
                       limit: int, data_root: str | None, split: str) -> tuple[list[np.ndarray], list[str]]:
    """uint8 (V, C, T, H, W) clips prepared with ``steps`` from ``videos``, else from the
    first ``limit`` videos of the recipe's ``split``."""
    if not videos:
        videos = _split_videos(recipe, split, data_root, limit)
    pipeline = spec.pipeline_of(steps)
    seed = int(recipe.get("seed", 0))
    opening = spec.sample_opening(_decoder(recipe))
    clips, used = [], []
    for i, video in enumerate(videos):
        if not Path(video).is_file():
            raise ExportError(f"verification video not found: {video}")
        try:
            out = pipeline(spec.make_sample(video, i, seed=seed, opening=opening))
        except ZeldaError as exc:
            raise ExportError(f"cannot prepare verification video {video}: {exc}") from None
        clips.append(out["inputs"].numpy())
        used.append(str(video))
    shapes = {c.shape for c in clips}
    if len(shapes) > 1:
        raise ExportError(f"the test pipeline gives clips of different shapes {sorted(shapes)}; "
                          "an exported model has one input shape (add a crop step)")
    return clips, used


def _split_videos(recipe: dict[str, Any], split: str, data_root: str | None, limit: int) -> list[str]:
    import copy

    from .._data import build_dataset

    data = copy.deepcopy(recipe)
    if data_root:
        data.setdefault("data", {})["root"] = data_root
    try:
        ds = build_dataset(data, split)
    except ZeldaError as exc:
        raise ExportError(
            f"verification needs real videos: the checkpoint's [data.{split}] could not be read "
            f"({str(exc).splitlines()[0]}); give --data-root DIR or --verify-video FILE") from None
    return [f for f, _ in ds.records[:max(1, limit)]]


def _crops_per_clip(steps: list[dict], recipe: dict[str, Any], videos: list[str] | None,
                    data_root: str | None, num_clips: int) -> int:
    """Views per clip of the unchanged pipeline (1 for a center crop, 3 for three_crop...)."""
    split, _ = spec.test_steps(recipe)
    clips, _ = verification_clips(recipe, steps, videos, 1, data_root, split)
    return max(1, clips[0].shape[0] // max(1, num_clips))
