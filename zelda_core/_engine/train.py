"""``zelda run``: train a recipe, validate, then test the best checkpoint.

Connects the recipe, the registry (model, metrics) and the data loaders to the loop in
``zelda_core._engine.loop``; the after-training test is ``evaluate.test_checkpoint``.
"""

from __future__ import annotations

import copy
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import distributed as dist
from .build import build_metrics, build_model, model_table
from .config import parse_train_config
from .errors import CheckpointError
from .evaluate import save_metric_files, splits_of, test_checkpoint
from .files import write_json
from .log import RankLogger, RunLogger, show, show_metrics
from .loop import FitResult, Trainer
from .workdir import WorkDirLock, archive_previous_run, clean_stale_temporaries, prepare_work_dir


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
                 init_from: str | Path | None = None, download: bool = True, force_lock: bool = False,
                 force_init: bool = False, plots: bool | None = None) -> dict[str, Any]:
    """Train ``recipe`` (a ``zelda_core._recipe.Recipe``), validate, then test the best
    checkpoint on the test split if the recipe has one. Returns a summary dict.

    The work dir is checked (a writable folder) and locked for the run (``force_lock``
    takes a lock another host's run holds); ``force_init`` accepts ``init_from`` weights
    that match none of the model's tensors. ``plots``: draw the run's pictures into
    ``work_dir/plots`` at the end (needs matplotlib); None means yes unless the environment
    sets ``ZELDA_PLOTS=0``.

    Under torchrun every process runs this; rank 0 alone writes the work dir (see
    docs/distributed.md). A process torchrun restarted after a failure
    (``--max-restarts``) resumes from ``last.pth`` when there is one."""
    data = copy.deepcopy(recipe.data)
    file = recipe.file
    cfg = parse_train_config(data.get("train"), file=file)
    ctx = dist.setup(cfg.device)
    work_dir = Path(work_dir) if work_dir else default_work_dir(recipe)
    last = work_dir / "checkpoints" / "last.pth"
    restarted = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0) > 0
    if resume is True or (resume is None and restarted):
        # checked before anything is made: a failed --resume leaves no trace
        found = dist.broadcast(last.exists() if ctx.is_main else None)
        if resume is True and not found:
            raise CheckpointError(f"--resume: no checkpoint to resume from in {last.parent} "
                                  "(name one: --resume PATH)")
        resume = last if found else None
    if ctx.is_main:
        prepare_work_dir(work_dir)
    # rank 0's lock; the others share it. After a torchrun restart the agent has stopped
    # the previous group, so its lock is taken over even if a straggler still holds it
    with WorkDirLock(work_dir, force=force_lock or restarted) as lock:
        return _run_locked(recipe, data, cfg, ctx, work_dir, lock, resume=resume, init_from=init_from,
                           force_init=force_init, download=download, restarted=restarted,
                           plots=plots)


def _run_locked(recipe: Any, data: dict[str, Any], cfg: Any, ctx: Any, work_dir: Path, lock: WorkDirLock,
                *, resume: str | Path | None, init_from: str | Path | None, force_init: bool,
                download: bool, restarted: bool, plots: bool | None) -> dict[str, Any]:
    from .._data import build_dataloader, build_dataset, resolve_root
    from .._recipe import Recipe, write_resolved
    from .download import ensure_dataset

    file = recipe.file
    last = work_dir / "checkpoints" / "last.pth"
    if plots is None:
        plots = os.environ.get("ZELDA_PLOTS", "1") != "0"
    seed = int(data.get("seed", 0))
    data_table = data.get("data") or {}
    root = resolve_root(data_table.get("root"), file)
    if ctx.local_rank == 0:  # one download per machine
        ensure_dataset(root, download=download)
    stale = clean_stale_temporaries(work_dir, work_dir / "checkpoints")  # rank 0 only
    moved = None if resume else archive_previous_run(work_dir)  # rank 0 only
    dist.barrier()

    seed_everything(seed)
    train_ds = build_dataset(data, "train", recipe_file=file)
    splits = splits_of(data)
    val_ds = build_dataset(data, "val", recipe_file=file) if "val" in splits else None
    classes = list(getattr(train_ds, "classes", []) or [])
    table = model_table(data, len(classes) or None, file=file)
    data["model"] = table
    resolved = Recipe(data=data, path=recipe.path)
    if ctx.is_main:
        write_resolved(resolved, work_dir, seed=seed)
    model = build_model(table, file=file)
    metrics = build_metrics(data, file=file, needed_for="val" if val_ds is not None else None)
    if ctx.enabled:  # same initial weights everywhere (DDP sends rank 0's); own dropout masks
        torch.manual_seed(seed + 1_000_003 * ctx.rank)
    batch_size = int(data_table.get("batch_size", 1))
    step_size = batch_size * ctx.world_size
    recipe_lr = cfg.optimizer.get("lr")
    cfg = scale_lr(cfg, step_size, file)

    shard = {"world": ctx.world_size, "rank": ctx.rank}
    train_loader = build_dataloader(data, "train", train_ds, **shard)
    val_loader = build_dataloader(data, "val", val_ds, shuffle=False, **shard) if val_ds is not None else None
    logger = RunLogger(work_dir) if ctx.is_main else RankLogger(ctx.rank)
    try:
        logger.info(f"recipe {file}  ->  work dir {work_dir}")
        if lock.replaced:
            logger.warning(f"took over the lock of a run that is gone ({lock.replaced.get('host')}, pid "
                           f"{lock.replaced.get('pid')}, started {lock.replaced.get('started')})")
        if stale:
            logger.info(f"removed {len(stale)} partial file(s) a killed run left: "
                        + ", ".join(p.name for p in stale[:5]))
        if moved:
            logger.info(f"the work dir held an earlier run's outputs; they were moved to {moved} "
                        "(delete it if you do not need them)")
        for ds in (train_ds, val_ds):
            missing = getattr(ds, "missing", None)
            if missing:
                logger.warning(f"{len(missing)} listed video(s) of data.{ds.split} not found; with "
                               "on_error = \"skip\" they are skipped and reported like unreadable "
                               f"ones: {'; '.join(missing[:3])}" + (" ..." if len(missing) > 3 else ""))
        if ctx.enabled:
            logger.info(f"{ctx.world_size} processes ({'nccl' if dist.local_device() else 'gloo'}): "
                        f"batch {batch_size} per process, {step_size} per step")
        if cfg.scale_lr:
            logger.info(f"train.scale_lr: lr {recipe_lr} x {step_size} / {cfg.scale_lr['base_batch_size']} "
                        f"= {cfg.optimizer['lr']:.6g}")
        if cfg.sync_bn and not ctx.enabled:
            logger.info("train.sync_bn: one process, BatchNorm left as it is")
        logger.info(f"train: {len(train_ds)} videos, {len(train_loader)} batches/epoch; "
                    f"val: {len(val_ds) if val_ds is not None else 0} videos; classes: {len(classes)}")
        if getattr(train_ds, "classes_note", None):
            logger.info(train_ds.classes_note)
        trainer = Trainer(
            model, config=cfg, train_batches=_loader_fn(train_loader), steps_per_epoch=len(train_loader),
            val_batches=(lambda: val_loader) if val_loader is not None else None,
            val_steps=len(val_loader) if val_loader is not None else None,
            metrics=metrics, work_dir=work_dir, classes=classes, recipe=data,
            recipe_toml=_recipe_toml(data), versions=_versions(), logger=logger,
            samples_per_step=step_size,
        )
        if resume and restarted and resume == last:
            logger.info(f"torchrun restarted the processes (restart "
                           f"{os.environ.get('TORCHELASTIC_RESTART_COUNT')}): resuming from {last}")
        init_from = init_from or (cfg.init_from if not resume else None)
        if init_from:
            trainer.init_from(init_from, force=force_init)
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
        if val_loader is not None and metrics and ctx.is_main:
            save_metric_files(metrics, work_dir / "val", classes)
        if "test" in splits:
            ckpt = result.best_checkpoint or result.last_checkpoint
            report = test_checkpoint(resolved, ckpt, split="test", out=work_dir / "test_metrics.json",
                                     device=str(trainer.device))
            test_metrics = report["metrics"]
            logger.record("test", trainer.global_step, **test_metrics)
            logger.info(f"test ({Path(ckpt).name}): {show_metrics(test_metrics)}")
            summary["test"] = test_metrics
            summary["skipped"] += report["skipped"]
        if ctx.is_main:
            report_skipped(logger, summary["skipped"])
        if result.best_value is not None:
            best = f"best {result.best_metric} {show(result.best_value)} at epoch {result.best_epoch}"
        elif result.last_metrics:
            best = (f"no best checkpoint ({result.best_metric} was never a number)" if result.best_metric
                    else "no best checkpoint (the metrics give no number)")
        else:
            best = "no validation"
        logger.info(f"done in {result.seconds:.0f} s: {best}; checkpoints in {result.checkpoint_dir}")
        if ctx.is_main:
            write_json(work_dir / "summary.json", summary)
            if plots:
                write_plots(logger, work_dir)
        return summary
    finally:
        logger.close()


def scale_lr(cfg: Any, step_size: int, file: str | None) -> Any:
    """``train.scale_lr = {base_batch_size = B}``: the linear rule, lr x step_size / B, with
    ``step_size`` the global batch (per-process batch x processes), as MMAction2's
    ``auto_scale_lr``. Returns ``cfg`` with the scaled optimizer lr."""
    if not cfg.scale_lr:
        return cfg
    from .._errors import RecipeError

    lr = cfg.optimizer.get("lr")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)):
        raise RecipeError("train.scale_lr needs train.optimizer.lr to scale", file=file, key="train.optimizer.lr")
    cfg = copy.copy(cfg)
    cfg.optimizer = {**cfg.optimizer, "lr": lr * step_size / cfg.scale_lr["base_batch_size"]}
    return cfg


def write_plots(logger: RunLogger, work_dir: Path) -> None:
    """The pictures of ``zelda plot`` in ``work_dir/plots`` when matplotlib is installed
    (the ``plot`` extra); a failure to draw is a warning, never a failed run."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    from .._deploy.plot import plot_runs

    try:
        files = plot_runs([work_dir], work_dir / "plots")
    except Exception as exc:  # noqa: BLE001 - the run itself succeeded
        logger.warning(f"could not draw the run's plots: {type(exc).__name__}: {exc}")
        return
    logger.info(f"plots: {len(files)} files in {work_dir / 'plots'} (zelda plot draws them again)")


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
