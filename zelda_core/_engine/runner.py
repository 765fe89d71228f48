"""Recipe-level entry points: train a recipe, test a checkpoint, predict with one.

These connect the recipe (``zelda_core._recipe``), the registry (models, metrics) and
the data loaders (``zelda_core._data``) to the loop in ``zelda_core._engine.loop``.
"""

from __future__ import annotations

import copy
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._errors import RecipeError
from . import checkpoint as ckpt_io
from .config import parse_train_config
from .errors import CheckpointError
from .log import RunLogger
from .loop import FitResult, Trainer, evaluate

DEFAULT_METRICS = {"accuracy": {"type": "top_k_accuracy", "k": [1, 5]}}


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (model init, dropout; samples use their own rng)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def default_work_dir(recipe: Any) -> Path:
    """``work_dir`` from the recipe, else ``work_dirs/<recipe file stem>``."""
    data = recipe.data
    if data.get("work_dir"):
        return Path(data["work_dir"])
    stem = Path(recipe.path).stem if getattr(recipe, "path", None) else "run"
    return Path("work_dirs") / stem


def model_table(data: dict[str, Any], num_classes: int | None, *, file: str | None = None) -> dict[str, Any]:
    """The recipe's ``[model]`` with ``head.num_classes`` filled in when it is absent."""
    table = data.get("model")
    if not isinstance(table, dict):
        raise RecipeError(
            "the recipe has no [model] table; add one with type = \"recognizer\" and "
            "[model.preprocessor], [model.backbone], [model.head]", file=file, key="model")
    table = copy.deepcopy(table)
    head = table.get("head")
    if isinstance(head, dict) and num_classes is not None:
        given = head.get("num_classes")
        if given is None:
            head["num_classes"] = int(num_classes)
        elif isinstance(given, int) and given < num_classes:
            raise RecipeError(
                f"model.head.num_classes = {given} but the data has {num_classes} classes; "
                f"set it to {num_classes} or leave it out (it is then taken from the data)",
                file=file, key="model.head.num_classes")
    return table


def build_model(table: dict[str, Any], *, file: str | None = None) -> torch.nn.Module:
    """Build a ``[model]`` table through the registry (nested parts first)."""
    from .._registry import build

    model = build("models", table, key="model", file=file)
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "loss") or not hasattr(model, "predict"):
        raise RecipeError(
            f"model type '{table.get('type')}' built a {type(model).__name__}; the engine needs a "
            "torch.nn.Module with loss(inputs, labels) and predict(inputs), e.g. type = \"recognizer\"",
            file=file, key="model")
    return model


def build_metrics(data: dict[str, Any], *, file: str | None = None) -> dict[str, Any]:
    """Every ``[metrics.<name>]`` table built (top-1/top-5 accuracy when there is none)."""
    from .._registry import build

    tables = data.get("metrics") or DEFAULT_METRICS
    return {name: build("metrics", t, key=f"metrics.{name}", file=file) for name, t in tables.items()}


def save_metric_files(metrics: dict[str, Any], directory: Path, classes: list[str]) -> list[Path]:
    """Let metrics that write files (``save(directory, classes)``) write them."""
    return [m.save(directory, classes) for m in metrics.values() if hasattr(m, "save")]


def _recipe_toml(data: dict[str, Any]) -> str | None:
    try:
        from .._recipe import dumps

        return dumps(data)
    except Exception:  # tomli_w missing: the plain-dict copy in the checkpoint suffices
        return None


def _versions() -> dict[str, Any]:
    try:
        from .._recipe import versions

        return versions()
    except Exception:
        return {"torch": torch.__version__}


def _loader_fn(loader: Any):
    def batches(epoch: int, start_batch: int = 0):
        loader.set_epoch(epoch, start_batch)
        return loader
    return batches


def run_training(recipe: Any, *, work_dir: str | Path | None = None, resume: str | Path | bool | None = None,
                 init_from: str | Path | None = None, download: bool = True) -> dict[str, Any]:
    """Train ``recipe`` (a ``zelda_core._recipe.Recipe``), validate, then test the best
    checkpoint on the test split if the recipe has one. Returns a summary dict."""
    from .._data import build_dataloader, build_dataset, resolve_root
    from .._recipe import Recipe, write_resolved
    from .download import ensure_dataset

    data = copy.deepcopy(recipe.data)
    file = recipe.file
    cfg = parse_train_config(data.get("train"), file=file)
    work_dir = Path(work_dir) if work_dir else default_work_dir(recipe)
    work_dir.mkdir(parents=True, exist_ok=True)
    seed = int(data.get("seed", 0))
    data_table = data.get("data") or {}
    root = resolve_root(data_table.get("root"), file)
    ensure_dataset(root, download=download)

    if resume is True:
        resume = work_dir / "checkpoints" / "last.pth"
        if not Path(resume).exists():
            raise CheckpointError(f"--resume: no checkpoint to resume from in {resume.parent} "
                                  "(name one: --resume PATH)")
    seed_everything(seed)
    train_ds = build_dataset(data, "train", recipe_file=file)
    splits = {k for k, v in data_table.items() if isinstance(v, dict) and "type" in v}
    val_ds = build_dataset(data, "val", recipe_file=file) if "val" in splits else None
    classes = list(getattr(train_ds, "classes", []) or [])
    table = model_table(data, len(classes) or None, file=file)
    data["model"] = table
    resolved = Recipe(data=data, path=recipe.path)
    write_resolved(resolved, work_dir, seed=seed)
    model = build_model(table, file=file)
    metrics = build_metrics(data, file=file)

    train_loader = build_dataloader(data, "train", train_ds)
    val_loader = build_dataloader(data, "val", val_ds, shuffle=False) if val_ds is not None else None
    logger = RunLogger(work_dir)
    try:
        logger.info(f"recipe {file}  ->  work dir {work_dir}")
        logger.info(f"train: {len(train_ds)} videos, {len(train_loader)} batches/epoch; "
                    f"val: {len(val_ds) if val_ds is not None else 0} videos; classes: {len(classes)}")
        trainer = Trainer(
            model, config=cfg, train_batches=_loader_fn(train_loader), steps_per_epoch=len(train_loader),
            val_batches=(lambda: val_loader) if val_loader is not None else None,
            val_steps=len(val_loader) if val_loader is not None else None,
            metrics=metrics, work_dir=work_dir, classes=classes, recipe=data,
            recipe_toml=_recipe_toml(data), versions=_versions(), logger=logger,
        )
        if init_from:
            trainer.init_from(init_from)
        result: FitResult = trainer.fit(resume=resume)
        train_loader.close()  # its workers would otherwise idle on prefetched batches
        summary: dict[str, Any] = {
            "work_dir": str(work_dir), "epochs": result.epochs, "seconds": round(result.seconds, 1),
            "best_metric": result.best_metric, "best_value": result.best_value,
            "best_epoch": result.best_epoch, "val": result.last_metrics,
            "best_checkpoint": str(result.best_checkpoint) if result.best_checkpoint else None,
            "last_checkpoint": str(result.last_checkpoint) if result.last_checkpoint else None,
            "skipped": [list(s) for s in result.skipped],
        }
        if val_loader is not None and metrics:
            save_metric_files(metrics, work_dir / "val", classes)
        if "test" in splits:
            ckpt = result.best_checkpoint or result.last_checkpoint
            test_ds = build_dataset(data, "test", recipe_file=file)
            test_loader = build_dataloader(data, "test", test_ds, shuffle=False)
            weights = ckpt_io.model_state(ckpt_io.load_checkpoint(ckpt, map_location=trainer.device))
            model.load_state_dict(weights)
            skipped: list[tuple[str, str]] = []
            test_metrics = evaluate(model, test_loader, metrics, device=trainer.device, dtype=trainer.dtype,
                                    total=len(test_loader), desc="test", skipped=skipped)
            save_metric_files(metrics, work_dir / "test", classes)
            _write_json(work_dir / "test_metrics.json", {"checkpoint": str(ckpt), "split": "test",
                                                          "metrics": test_metrics})
            logger.record("test", trainer.global_step, **test_metrics)
            shown = "  ".join(f"{k} {v:.4f}" for k, v in test_metrics.items() if k != "samples")
            logger.info(f"test ({Path(ckpt).name}): {shown}")
            summary["test"] = test_metrics
            summary["skipped"] += [list(s) for s in skipped]
        _report_skipped(logger, summary["skipped"])
        best = (f"best {result.best_metric} {result.best_value:.4f} at epoch {result.best_epoch}"
                if result.best_value is not None else "no validation")
        logger.info(f"done in {result.seconds:.0f} s: {best}; checkpoints in {result.checkpoint_dir}")
        _write_json(work_dir / "summary.json", summary)
        return summary
    finally:
        logger.close()


def _report_skipped(logger: RunLogger, skipped: list[list[str]]) -> None:
    if not skipped:
        return
    files = sorted({f for f, _ in skipped})
    logger.warning(f"{len(skipped)} sample(s) skipped ({len(files)} distinct file(s)) because they "
                   "could not be read; they are listed in train.log and summary.json:")
    for f in files[:10]:
        reason = next(r for g, r in skipped if g == f)
        logger.info(f"  {f}: {reason}")
    if len(files) > 10:
        logger.info(f"  ... and {len(files) - 10} more")


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


# --- testing and prediction with a checkpoint -------------------------------------------

def model_from_checkpoint(path: str | Path, *, device: str = "auto") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model from the checkpoint's own recipe and load its weights (eval mode)."""
    from .device import select_device

    ckpt = ckpt_io.load_checkpoint(path)
    recipe = ckpt.get("recipe")
    if not isinstance(recipe, dict) or not isinstance(recipe.get("model"), dict):
        raise CheckpointError(
            f"{path} has no recipe inside (not a zelda checkpoint?); use 'zelda test RECIPE "
            "--checkpoint CKPT' with the recipe it was trained with")
    classes = list(ckpt.get("classes") or [])
    model = build_model(model_table(recipe, len(classes) or None), file=str(path))
    _load_weights(model, ckpt, path)
    dev = select_device(device)
    model.to(dev).eval()
    return model, ckpt


def _load_weights(model: torch.nn.Module, ckpt: dict[str, Any], path: str | Path) -> None:
    try:
        model.load_state_dict(ckpt_io.model_state(ckpt))
    except RuntimeError as exc:
        raise CheckpointError(
            f"{path} does not fit the model: {str(exc).splitlines()[0]} "
            "(was it trained with another model or number of classes?)") from None


def test_checkpoint(recipe: Any, checkpoint: str | Path, *, split: str = "test", out: str | Path | None = None,
                    device: str | None = None) -> dict[str, Any]:
    """Evaluate ``checkpoint`` on ``split`` of ``recipe``; write metrics JSON (+ metric files)."""
    from .._data import build_dataloader, build_dataset
    from .device import amp_dtype, apply_channels_last, select_device, use_channels_last

    data = copy.deepcopy(recipe.data)
    file = recipe.file
    cfg = parse_train_config(data.get("train"), file=file)
    seed_everything(int(data.get("seed", 0)))
    splits = {k for k, v in (data.get("data") or {}).items() if isinstance(v, dict) and "type" in v}
    if split not in splits:
        raise RecipeError(f"the recipe has no [data.{split}] split to test on (it has: "
                          f"{', '.join(sorted(splits)) or 'none'}); use --split", file=file, key=f"data.{split}")
    ckpt = ckpt_io.load_checkpoint(checkpoint)
    ds = build_dataset(data, split, recipe_file=file)
    classes = list(ckpt.get("classes") or getattr(ds, "classes", []) or [])
    model = build_model(model_table(data, len(classes) or None, file=file), file=file)
    _load_weights(model, ckpt, checkpoint)
    dev = select_device(device or cfg.device)
    dtype = amp_dtype(cfg.amp, dev)
    model.to(dev)
    if use_channels_last(cfg.channels_last, dev):
        apply_channels_last(model)
    metrics = build_metrics(data, file=file)
    loader = build_dataloader(data, split, ds, shuffle=False)
    skipped: list[tuple[str, str]] = []
    t0 = time.perf_counter()
    result = evaluate(model, loader, metrics, device=dev, dtype=dtype, total=len(loader), desc=split,
                      skipped=skipped)
    ck_dir = Path(checkpoint).resolve().parent
    run_dir = ck_dir.parent if ck_dir.name == "checkpoints" else ck_dir
    out_path = Path(out) if out else run_dir / f"{split}_metrics.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    files = save_metric_files(metrics, out_path.parent / split, classes)
    report = {"checkpoint": str(checkpoint), "split": split, "seconds": round(time.perf_counter() - t0, 2),
              "metrics": result, "files": [str(f) for f in files], "skipped": [list(s) for s in skipped]}
    _write_json(out_path, report)
    report["out"] = str(out_path)
    return report


def predict_videos(checkpoint: str | Path, videos: list[str], *, top_k: int = 5, device: str = "auto",
                   decoder: str | None = None) -> list[dict[str, Any]]:
    """Class probabilities for each video, with the checkpoint's test (else val) pipeline."""
    from .._data import decoder_spec, sample_rng
    from .._pipeline import Pipeline
    from .._video import VideoOpener

    model, ckpt = model_from_checkpoint(checkpoint, device=device)
    recipe = ckpt["recipe"]
    classes = list(ckpt.get("classes") or [])
    data = recipe.get("data") or {}
    split = next((s for s in ("test", "val") if isinstance(data.get(s), dict)), None)
    if split is None:
        raise CheckpointError(f"{checkpoint}: its recipe has no [data.test] or [data.val] pipeline to "
                              "prepare videos with")
    pipeline = Pipeline.from_config(data[split].get("pipeline", []), key=f"data.{split}.pipeline")
    spec = decoder_spec(data)
    if decoder:
        spec = {"type": decoder}
    opener = VideoOpener(spec, key="data.decoder")  # checked once, for every video
    seed = int(recipe.get("seed", 0))
    dev = next(model.parameters()).device
    results = []
    for i, video in enumerate(videos):
        sample = {"filename": str(Path(video).resolve()), "label": -1, "index": i, "epoch": 0,
                  "rng": sample_rng(seed, 0, i), "test_mode": True, "opener": opener,
                  "start_index": 0, "modality": "RGB"}
        if not Path(video).is_file():
            results.append({"video": video, "error": "file not found"})
            continue
        try:
            out = pipeline(sample)
        except Exception as exc:  # one bad video does not stop the others
            reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
            results.append({"video": video, "error": str(reason)})
            continue
        inputs = out["inputs"].unsqueeze(0)
        with torch.inference_mode():
            scores = model.predict(inputs.to(dev))[0].float().cpu()
        if getattr(getattr(model, "head", None), "average_clips", "prob") != "prob":
            scores = scores.softmax(-1)
        k = min(top_k, scores.numel())
        probs, idx = scores.topk(k)
        results.append({"video": video, "predictions": [
            {"label": classes[j] if j < len(classes) else str(j), "index": int(j), "probability": float(p)}
            for p, j in zip(probs.tolist(), idx.tolist())]})
    return results
