"""``zelda predict``: class scores for many videos, whole or in sliding windows.

Each prediction is one item (a whole video, or one window of one) prepared by the
recipe's test pipeline in DataLoader workers and scored in batches, by the checkpoint's
PyTorch model (device, AMP on CUDA) or by an exported file (ONNX through onnxruntime,
TorchScript, torch.export) whose metadata carries the pipeline. A video that cannot be
opened or decoded becomes an error record; every other item is still scored.

A window is sampled as the test pipeline samples a whole video: the pipeline sees a reader
limited to the window's frames (frame 0 = the window's first frame), so ``segment_sample``,
``sample_frames`` or any other sampler spreads its clips over the window.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import ZeldaError
from .._userfile import LIST_LIMIT, path_kind, read_user_text
from .._video_span import SpanReader
from . import spec
from .windows import Window, describe, plan_windows, timeline

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv",
                    ".ts", ".wmv")


# --- inputs ------------------------------------------------------------------------------

def expand_inputs(paths: Sequence[str], lists: Sequence[str] = ()) -> list[str]:
    """Files as given, folders searched recursively for video files (sorted), and the
    paths listed one per line in each ``lists`` file (blank lines and ``#`` comments
    skipped; relative paths are relative to the list file)."""
    out: list[str] = []
    for lst in lists:
        lines = read_user_text(lst, "video list", limit=LIST_LIMIT).splitlines()
        base = Path(lst).parent
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                p = Path(line)
                out.append(str(p if p.is_absolute() else base / p))
    for p in paths:
        if os.path.isdir(p):
            found = sorted(str(f) for f in Path(p).rglob("*")
                           if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            if not found:
                raise ZeldaError(f"{p}: no video file ({', '.join(VIDEO_EXTENSIONS)}) in this folder")
            out.extend(found)
        else:
            out.append(p)
    return out


@dataclass(frozen=True)
class Item:
    video: int
    window: Window | None = None


class PredictDataset:
    """Map-style dataset of items; ``[i]`` is ``{"item": i, "inputs": uint8 (V, C, T, H, W)}``
    or ``{"item": i, "error": reason}``."""

    def __init__(self, videos: list[str], items: list[Item], steps: list[dict], *,
                 decoder: dict[str, Any], seed: int) -> None:
        self.videos, self.items = videos, items
        self.pipeline = spec.pipeline_of(steps)
        self.decoder, self.seed = dict(decoder), seed
        self.opening = spec.sample_opening(decoder)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.items[i]
        path = self.videos[item.video]
        sample = spec.make_sample(path, i if item.window else item.video, seed=self.seed,
                                  opening=self.opening)
        try:
            if item.window is not None:
                reader = _open(sample)
                w = item.window
                sample.update(reader=SpanReader(reader, w.start, w.length),
                              total_frames=w.length, avg_fps=float(reader.fps or 0.0),
                              original_shape=(int(reader.height), int(reader.width)))
            out = self.pipeline(sample)
        except Exception as exc:  # noqa: BLE001 - one bad video never stops the others
            return {"item": i, "error": _reason(exc)}
        return {"item": i, "inputs": out["inputs"]}


def _open(sample: dict[str, Any]) -> Any:
    """The sample's video opened as the pipeline would (its opener, else its decoder table)."""
    opener = sample.get("opener")
    if opener is not None:
        return opener(sample["filename"])
    from .._video import open_video

    opts = dict(sample["decoder"])
    return open_video(sample["filename"], opts.pop("type", None), **opts)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        return reason
    return str(exc) if isinstance(exc, ZeldaError) else f"{type(exc).__name__}: {exc}"


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    import torch

    ok = [b for b in batch if "inputs" in b]
    return {"items": [b["item"] for b in ok],
            "inputs": torch.stack([b["inputs"] for b in ok]) if ok else None,
            "errors": [(b["item"], b["error"]) for b in batch if "error" in b]}


# --- scorers -----------------------------------------------------------------------------

@dataclass
class Source:
    """What scores the items and how to prepare them."""

    score: Callable[[Any], np.ndarray]
    """uint8 (B, V, C, T, H, W) tensor -> (B, K) probabilities."""
    steps: list[dict]
    decoder: dict[str, Any]
    seed: int
    labels: list[str]
    notes: list[str] = field(default_factory=list)
    device: str = "cpu"
    multi_label: bool = False
    """Per-class probabilities (sigmoids) that need not sum to 1: a video may have several labels."""


def is_exported(path: str | Path) -> bool:
    from .metadata import sidecar_path
    from .native import is_native_export

    return Path(path).suffix.lower() == ".onnx" or sidecar_path(path).is_file() or \
        is_native_export(path)


def load_source(model_path: str | Path, *, device: str = "auto", amp: str = "auto",
                decoder: str | None = None) -> Source:
    """A checkpoint (PyTorch model) or an exported file (its own runtime), ready to score."""
    from .native import is_native_export

    if is_native_export(model_path):
        src = _native_source(model_path, device=device, amp=amp)
    elif is_exported(model_path):
        src = _exported_source(model_path)
    else:
        src = _checkpoint_source(model_path, device=device, amp=amp)
    if decoder:
        src.decoder = {"type": decoder}
    return src


def _checkpoint_source(path: str | Path, *, device: str, amp: str) -> Source:
    from .._engine.build import is_multi_label, model_from_checkpoint
    from .labels import class_names

    model, ckpt = model_from_checkpoint(path, device=device)
    recipe = ckpt["recipe"]
    multi = bool(getattr(model, "multi_label", False)) or is_multi_label(recipe.get("model"))
    _, steps = spec.test_steps(recipe, source=str(path))
    labels, note = class_names(list(ckpt.get("classes") or []), recipe,
                               int(getattr(model, "num_classes", 0) or 0) or None)
    from .._data import decoder_spec

    return _model_source(model, amp=amp, steps=steps, decoder=decoder_spec(recipe.get("data") or {}),
                         seed=int(recipe.get("seed", 0)), labels=labels, notes=[note] if note else [],
                         multi_label=multi)


def _native_source(path: str | Path, *, device: str, amp: str) -> Source:
    """A folder a model wrote itself (``zelda export --format hf``): the model rebuilt from
    it through the registry, fed as its metadata says."""
    from .._engine.device import place_model
    from .metadata import read_metadata
    from .native import build_from_folder

    meta = read_metadata(path)
    model = build_from_folder(meta["model"], Path(path).resolve(), where=str(path))
    place_model(model, device=device, amp="none", channels_last=False)
    model.eval()
    labels = list(meta["labels"])
    if int(getattr(model, "num_classes", 0) or 0) != len(labels):
        raise ZeldaError(f"{path}: the model scores {model.num_classes} classes but its metadata "
                         f"names {len(labels)} labels; export it again")
    return _model_source(model, amp=amp, steps=meta["pipeline"], decoder=meta.get("decoder") or {},
                         seed=int(meta.get("seed", 0)), labels=labels, notes=[],
                         multi_label=bool(getattr(model, "multi_label", False)))


def _model_source(model: Any, *, amp: str, steps: list[dict], decoder: dict[str, Any], seed: int,
                  labels: list[str], notes: list[str], multi_label: bool) -> Source:
    import torch

    from .._contracts import check_scores
    from .._engine.device import amp_dtype

    dev = next(model.parameters()).device
    dtype = amp_dtype(amp, dev)
    prob = multi_label or model.average_clips == "prob"  # a multi-label predict averages sigmoids

    def score(inputs: torch.Tensor) -> np.ndarray:
        with torch.inference_mode(), torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
            out = model.predict(inputs.to(dev, non_blocking=True))
        check_scores(out, model, batch=inputs.shape[0],
                     views=inputs.shape[1] if inputs.dim() == 6 else None)
        out = out.float()
        if not prob:
            out = out.softmax(-1)
        return out.cpu().numpy()

    return Source(score=score, steps=steps, decoder=decoder, seed=seed, labels=labels, notes=notes,
                  multi_label=multi_label,
                  device=f"{dev}{' ' + str(dtype).replace('torch.', '') + ' autocast' if dtype else ''}")


def _exported_source(path: str | Path) -> Source:
    from .export import load_runner
    from .metadata import read_metadata

    meta = read_metadata(path)
    run = load_runner(path, meta.get("format", "onnx"))
    single = meta["input"]["layout"] == "NCTHW"
    fixed = meta["input"]["shape"][0]
    prob = meta["output"]["kind"] == "probabilities"
    multi = meta["output"].get("multi_label") is True

    def score(inputs: Any) -> np.ndarray:
        x = inputs.numpy()
        if single:
            if x.shape[1] != 1:
                raise ZeldaError(f"{path} takes one view per video but the pipeline gives "
                                 f"{x.shape[1]}")
            x = x[:, 0]
        if isinstance(fixed, int):  # a fixed batch size: run it in chunks of that size
            parts = [run(x[i:i + fixed]) for i in range(0, len(x), fixed)]
            out = np.concatenate(parts)
        else:
            out = run(x)
        if out.ndim != 2 or out.shape[1] != len(labels):
            raise ZeldaError(f"{path} returned scores of shape {out.shape} for {len(labels)} "
                             "labels; export it again")
        if not np.isfinite(out).all():
            raise ZeldaError(f"{path} returned NaN or infinite scores; the model is broken "
                             "(export it again from a checkpoint with finite weights)")
        if not prob:
            out = np.exp(out - out.max(1, keepdims=True))
            out = out / out.sum(1, keepdims=True)
        return out

    labels = list(meta["labels"])
    return Source(score=score, steps=meta["pipeline"], decoder=meta.get("decoder") or {},
                  seed=int(meta.get("seed", 0)), labels=labels, multi_label=multi,
                  device=f"{meta.get('format', 'onnx')} (cpu)")


# --- running -----------------------------------------------------------------------------

@dataclass
class VideoResult:
    video: str
    error: str | None = None
    predictions: list[dict[str, Any]] | None = None
    windows: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] | None = None
    timeline_text: str = ""
    duration: float | None = None


MULTI_LABEL_THRESHOLD = 0.5
"""A multi-label model's predictions: every label with at least this probability."""


def predict(source: Source, videos: list[str], *, top_k: int = 5, window: float | None = None,
            stride: float | None = None, batch_size: int = 8, workers: int = 2,
            smooth_radius: int = 1, progress: bool | None = None,
            warn: Callable[[str], None] | None = None,
            threshold: float | None = None) -> list[VideoResult]:
    """Score every video (whole, or every window); one result per video, in order.

    Each prediction lists the ``top_k`` labels, or with ``threshold`` every label whose
    probability is at least that, best first; a multi-label model's default threshold is
    :data:`MULTI_LABEL_THRESHOLD`."""
    if threshold is None and source.multi_label:
        threshold = MULTI_LABEL_THRESHOLD
    import torch
    from tqdm import tqdm

    warn = warn or (lambda m: print(f"zelda: warning: {m}", file=sys.stderr))
    results = [VideoResult(video=v) for v in videos]
    opening = spec.sample_opening(source.decoder)
    items: list[Item] = []
    for n, video in enumerate(videos):
        kind = path_kind(video)
        if kind != "a regular file":
            results[n].error = ("file not found" if kind.startswith("missing")
                                else f"it is {kind}, not a video file")
            continue
        if window is None:
            items.append(Item(n))
            continue
        try:
            num_frames, fps = _probe(video, opening)
            wins = plan_windows(num_frames, fps, window, stride or window)
        except Exception as exc:  # noqa: BLE001 - reported, the others go on
            results[n].error = _reason(exc)
            continue
        results[n].duration = num_frames / fps
        items.extend(Item(n, w) for w in wins)
    for r in results:
        if r.error:
            warn(f"skipped {r.video}: {r.error}")
    dataset = PredictDataset(videos, items, source.steps, decoder=source.decoder, seed=source.seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=max(1, batch_size), shuffle=False,
                                         num_workers=max(0, workers), collate_fn=collate,
                                         pin_memory=False)
    scores: dict[int, np.ndarray] = {}
    failed: dict[int, str] = {}
    with tqdm(total=len(items), desc="predict", unit="window" if window else "video",
              disable=None if progress is None else not progress,
              file=sys.stderr) as bar:
        for batch in loader:
            for i, reason in batch["errors"]:
                failed[i] = reason
            if batch["inputs"] is not None:
                out = source.score(batch["inputs"])
                for i, row in zip(batch["items"], out):
                    scores[i] = row
            bar.update(len(batch["items"]) + len(batch["errors"]))
    by_video: dict[int, list[tuple[Item, np.ndarray]]] = {}
    for i, item in enumerate(items):
        if i in failed:
            res = results[item.video]
            if res.error is None:  # one report per video, with the first reason
                res.error = failed[i]
                warn(f"skipped {res.video}: {failed[i]}")
            continue
        by_video.setdefault(item.video, []).append((item, scores[i]))
    for n, pairs in by_video.items():
        res = results[n]
        if res.error:  # some window failed: the video is reported, not half-predicted
            continue
        if window is None:
            res.predictions = _top(pairs[0][1], source.labels, top_k, threshold)
            continue
        wins = [it.window for it, _ in pairs]
        rows = [s.tolist() for _, s in pairs]
        res.windows = [{"start": round(w.t0, 3), "end": round(w.t1, 3),
                        "frames": [w.start, w.start + w.length],
                        "predictions": _top(s, source.labels, top_k, threshold)}
                       for w, (_, s) in zip(wins, pairs)]
        segs = timeline(wins, rows, radius=smooth_radius, duration=res.duration)
        res.timeline = [{"label": _name(s.label, source.labels), "index": s.label,
                         "start": round(s.t0, 3), "end": round(s.t1, 3), "score": round(s.score, 4)}
                        for s in segs]
        res.timeline_text = describe(segs, source.labels)
    return results


def _probe(video: str, opening: dict[str, Any]) -> tuple[int, float]:
    reader = _open({"filename": str(Path(video).resolve()), **opening})
    try:
        return int(reader.num_frames), float(reader.fps or 0.0)
    finally:
        reader.close()


def _name(i: int, labels: list[str]) -> str:
    return labels[i] if i < len(labels) else str(i)


def _top(scores: np.ndarray, labels: list[str], k: int, threshold: float | None = None
         ) -> list[dict[str, Any]]:
    """The k best labels, or every label at or above ``threshold`` (maybe none), best first."""
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] >= threshold] if threshold is not None else order[:max(1, min(k, len(scores)))]
    return [{"label": _name(int(j), labels), "index": int(j), "probability": float(scores[j])}
            for j in order]


def predict_videos(checkpoint: str | Path, videos: list[str], *, top_k: int = 5,
                   device: str = "auto", decoder: str | None = None,
                   threshold: float | None = None) -> list[dict[str, Any]]:
    """Class probabilities for each whole video with a checkpoint's test (else val) pipeline,
    as plain dicts: ``{"video", "predictions": [{"label", "index", "probability"}]}`` or
    ``{"video", "error"}``. The library call for what ``zelda predict`` prints."""
    source = load_source(checkpoint, device=device, decoder=decoder)
    results = predict(source, list(videos), top_k=top_k, workers=0, progress=False,
                      warn=lambda _m: None, threshold=threshold)
    return [{"video": r.video, "error": r.error} if r.error else
            {"video": r.video, "predictions": r.predictions} for r in results]
