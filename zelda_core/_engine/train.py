"""``zelda run``: train a recipe, validate, then test the best checkpoint.

Connects the recipe, the registry (model, metrics) and the data loaders to the loop in
``zelda_core._engine.loop``; the after-training test is ``evaluate.test_checkpoint``.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .build import build_metrics, build_model, model_table
from .config import parse_train_config
from .errors import CheckpointError
from .evaluate import save_metric_files, splits_of, test_checkpoint
from .files import write_json
from .log import RunLogger
from .loop import FitResult, Trainer


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
    splits = splits_of(data)
    val_ds = build_dataset(data, "val", recipe_file=file) if "val" in splits else None
    classes = list(getattr(train_ds, "classes", []) or [])
    table = model_table(data, len(classes) or None, file=file)
    data["model"] = table
    resolved = Recipe(data=data, path=recipe.path)
    write_resolved(resolved, work_dir, seed=seed)
    model = build_model(table, file=file)
    metrics = build_metrics(data, file=file, needed_for="val" if val_ds is not None else None)

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
        init_from = init_from or (cfg.init_from if not resume else None)
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
            report = test_checkpoint(resolved, ckpt, split="test", out=work_dir / "test_metrics.json",
                                     device=str(trainer.device))
            test_metrics = report["metrics"]
            logger.record("test", trainer.global_step, **test_metrics)
            shown = "  ".join(f"{k} {v:.4f}" for k, v in test_metrics.items() if k != "samples")
            logger.info(f"test ({Path(ckpt).name}): {shown}")
            summary["test"] = test_metrics
            summary["skipped"] += report["skipped"]
        report_skipped(logger, summary["skipped"])
        best = (f"best {result.best_metric} {result.best_value:.4f} at epoch {result.best_epoch}"
                if result.best_value is not None else "no validation")
        logger.info(f"done in {result.seconds:.0f} s: {best}; checkpoints in {result.checkpoint_dir}")
        write_json(work_dir / "summary.json", summary)
        return summary
    finally:
        logger.close()


def report_skipped(logger: RunLogger, skipped: list[list[str]]) -> None:
    """Warn once about every sample skipped as unreadable, listing up to 10 files."""
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
