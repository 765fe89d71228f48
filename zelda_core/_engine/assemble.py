"""A run's objects, built once, in the order they depend on each other.

``zelda run`` builds in ``assembled_run``, which also holds the work dir while the run
trains (docs/architecture.md, "The run's build order"):

1. ``open_run``: the ``[train]`` config, the batch transforms, the process group, the
   resume decision, the data on disk: what must hold before the work dir is touched;
2. the work dir checked, locked and tidied in one call (``workdir.open_work_dir``);
3. ``build_run`` (under the lock): the seeds, the datasets and their classes, the model
   table and ``resolved.toml``, the model, the metrics, the targets, the learning rate
   scaled to the global batch, the loaders, the logger; then
4. ``build_training``: the device, the placed model and the gradient scaler,
   SyncBatchNorm, fine-tuning, the optimizer, scheduler and warmup, the weight average,
   ``compile``, the DDP wrapper.

The ``Trainer`` (``loop.py``) receives ``TrainParts`` built and only trains.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import distributed as dist
from .config import TrainConfig, parse_train_config
from .errors import CheckpointError, TrainingError

Batches = Iterable[Mapping[str, Any]]


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (model init, dropout; samples use their own rng)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def splits_of(data: dict[str, Any]) -> set[str]:
    """The split names of a recipe dict (``[data.<split>]`` tables with a type)."""
    return {k for k, v in (data.get("data") or {}).items() if isinstance(v, dict) and "type" in v}


def default_work_dir(recipe: Any) -> Path:
    """``work_dir`` from the recipe, else ``work_dirs/<recipe file stem>``."""
    data = recipe.data
    if data.get("work_dir"):
        return Path(data["work_dir"])
    stem = Path(recipe.path).stem if getattr(recipe, "path", None) else "run"
    return Path("work_dirs") / stem


def scale_lr(cfg: TrainConfig, step_size: int, file: str | None) -> TrainConfig:
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


# --- 3. what the Trainer receives ---------------------------------------------------------

@dataclass
class TrainParts:
    """Everything the ``Trainer`` trains with, built by ``build_training``."""

    config: TrainConfig
    ctx: dist.Dist
    model: torch.nn.Module  # placed, BatchNorm synchronized when asked
    train_module: torch.nn.Module  # forward(inputs, labels) = loss; DDP-wrapped when distributed
    device: torch.device
    dtype: torch.dtype | None  # the autocast dtype (None: full precision)
    channels_last: bool
    device_line: str  # what the log says of the device, precision and memory format
    finetune: Any  # finetune.Finetune
    optimizer: torch.optim.Optimizer
    scheduler: Any  # optim.Scheduler or None
    warmup: Any  # optim.Warmup
    scaler: Any  # torch.amp.GradScaler
    opt_steps_per_epoch: int
    train_batches: Callable[[int, int], Batches]
    steps_per_epoch: int
    val_batches: Callable[[], Batches] | None
    val_steps: int | None
    metrics: dict[str, Any]
    work_dir: Path
    classes: list[str]
    recipe: dict[str, Any]
    recipe_toml: str | None
    versions: dict[str, Any]
    logger: Any  # log.RunLogger (RankLogger off rank 0)
    samples_per_step: int | None
    targets: Any = None  # targets.Targets: what the loss is given (None: the class indices)
    ema: Any = None  # ema.Ema (train.ema) or None


def build_training(
    model: torch.nn.Module,
    *,
    config: TrainConfig,
    train_batches: Callable[[int, int], Batches],
    steps_per_epoch: int,
    val_batches: Callable[[], Batches] | None = None,
    val_steps: int | None = None,
    metrics: Mapping[str, Any] | None = None,
    work_dir: str | Path,
    classes: list[str] | None = None,
    recipe: dict[str, Any] | None = None,
    recipe_toml: str | None = None,
    versions: dict[str, Any] | None = None,
    logger: Any = None,
    samples_per_step: int | None = None,
    ctx: dist.Dist | None = None,
    targets: Any = None,
) -> TrainParts:
    """Set ``model`` up for training, in dependency order: runtime settings; the device,
    the placed model and the gradient scaler (device and precision); SyncBatchNorm (on the
    placed model); fine-tuning (gradient checkpointing, freezing, parameter groups); the
    optimizer (over fine-tuning's groups), scheduler and warmup (need the optimizer); the
    weight average (a copy of the placed model); ``compile``; DDP. Each service is called
    once, in that order.

    ``train_batches(epoch, start_batch)`` returns an epoch's batches (the same epoch gives
    the same batches), ``steps_per_epoch`` their count; ``val_batches()`` the validation
    batches. ``samples_per_step`` (the global batch) lets a mid-epoch checkpoint resume on
    another number of processes."""
    from .device import make_scaler, place_model, select_device
    from .finetune import Finetune, enable_gradient_checkpointing
    from .log import RankLogger, RunLogger
    from .optim import Scheduler, Warmup, build_optimizer

    if steps_per_epoch < 1:
        raise TrainingError("the training split has no batches: check its annotation file and data.batch_size")
    ctx = ctx or dist.context()
    work_dir = Path(work_dir)
    if logger is None:
        logger = RunLogger(work_dir) if ctx.is_main else RankLogger(ctx.rank)
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    # the device, the placed model and what depends on device and precision
    device = select_device(config.device, ctx=ctx)
    place = place_model(model, device=device, amp=config.amp, channels_last=config.channels_last)
    scaler = make_scaler(place.device, place.dtype)
    device_line = place.describe()  # the log's line, now: the Trainer calls no device helper
    if device.type == "cuda":
        # clips have a fixed shape, so cuDNN's per-shape autotuning pays for itself
        torch.backends.cudnn.benchmark = not config.deterministic
    if config.sync_bn and ctx.enabled:  # the new layers take over the placed weights and statistics
        from .sync_bn import convert_sync_batchnorm

        model = convert_sync_batchnorm(model, place.device)
    # fine-tuning, then the optimizer over its parameter groups
    if config.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    finetune = Finetune.from_table(config.finetune)
    finetune.check(model)
    optimizer = build_optimizer(model, config.optimizer, finetune.param_groups(model, config.optimizer))
    opt_steps = math.ceil(steps_per_epoch / config.accumulate)
    scheduler = (Scheduler(optimizer, config.scheduler, epochs=config.epochs, steps_per_epoch=opt_steps)
                 if config.scheduler else None)
    warmup = Warmup(config.warmup, opt_steps)
    ema = None
    if config.ema is not None:  # a copy of the placed model, before compile and DDP
        from .ema import Ema, EmaConfig

        ema = Ema(model, EmaConfig.from_table(config.ema))
    if config.compile:
        model.compile()  # in place: state_dict keys stay the same
    return TrainParts(
        config=config, ctx=ctx, model=model, train_module=dist.wrap(model, place.device),
        device=place.device, dtype=place.dtype, channels_last=place.channels_last, device_line=device_line,
        finetune=finetune, optimizer=optimizer, scheduler=scheduler, warmup=warmup, scaler=scaler,
        opt_steps_per_epoch=opt_steps, train_batches=train_batches, steps_per_epoch=steps_per_epoch,
        val_batches=val_batches, val_steps=val_steps, metrics=dict(metrics or {}), work_dir=work_dir,
        classes=list(classes or []), recipe=recipe or {}, recipe_toml=recipe_toml,
        versions=versions or {"torch": torch.__version__}, logger=logger, samples_per_step=samples_per_step,
        targets=targets, ema=ema)


# --- 1. before the lock -------------------------------------------------------------------

@dataclass
class RunSite:
    """What ``open_run`` settles before the work dir is locked."""

    data: dict[str, Any]  # the recipe dict (a copy: build_run fills in the model table)
    config: TrainConfig
    ctx: dist.Dist
    work_dir: Path
    resume: Path | str | None
    restarted: bool  # a process torchrun restarted after a failure
    batch_transforms: list[Any]  # [[train.batch_transforms]], built (their values checked)
    data_root: str  # data.root as given (resolved beside the recipe)


def open_run(recipe: Any, *, work_dir: str | Path | None, resume: str | Path | bool | None,
             download: bool = True) -> RunSite:
    """The config, the batch transforms' values, the process group, the resume decision
    (a failed ``--resume`` leaves no trace) and the data on disk (``download``: fetch
    kinetics400_tiny when the recipe points at it, one download per machine): what must
    hold before the work dir is touched."""
    from .._data import resolve_root
    from .download import ensure_dataset

    data = copy.deepcopy(recipe.data)
    cfg = parse_train_config(data.get("train"), file=recipe.file)
    from .targets import build_batch_transforms

    transforms = build_batch_transforms(cfg.batch_transforms, file=recipe.file)  # their values, before anything is made
    ctx = dist.setup(cfg.device)
    work_dir = Path(work_dir) if work_dir else default_work_dir(recipe)
    last = work_dir / "checkpoints" / "last.pth"
    restarted = dist.restart_count() > 0
    if resume is True or restarted:
        found = dist.broadcast(last.exists() if ctx.is_main else None)
        if resume is True and not found:
            raise CheckpointError(f"--resume: no checkpoint to resume from in {last.parent} "
                                  "(name one: --resume PATH)")
        # a restarted run continues its own last.pth, not the checkpoint it first started from
        resume = last if found else (None if resume is True else resume)
    root = resolve_root((data.get("data") or {}).get("root"), recipe.file)
    if ctx.local_rank == 0:  # the others wait for it at build_run's barrier
        ensure_dataset(root, download=download)
    return RunSite(data, cfg, ctx, work_dir, resume or None, restarted, transforms, root)


@contextlib.contextmanager
def assembled_run(recipe: Any, *, work_dir: str | Path | None, resume: str | Path | bool | None,
                  download: bool, init_from: str | Path | None, force_lock: bool) -> Iterator[RunParts]:
    """The run, built (:class:`RunParts`), for the body to train: ``open_run``, then the
    work dir checked, locked and tidied for the body (``workdir.open_work_dir``: the
    folders made for a run that fails before writing into them are removed), then
    ``build_run`` under the lock."""
    from .._data import split_folders
    from .workdir import open_work_dir

    site = open_run(recipe, work_dir=work_dir, resume=resume, download=download)
    # rank 0's lock; the others share it. After a torchrun restart the agent has stopped
    # the previous group, so its lock is taken over even if a straggler still holds it.
    # A resumed run keeps its outputs where they are
    folders = split_folders(site.data, recipe.file) if site.ctx.is_main else []
    with open_work_dir(site.work_dir, main=site.ctx.is_main, force=force_lock or site.restarted,
                       archive=not site.resume, input_folders=folders) as held:
        yield build_run(recipe, site, held, init_from=init_from)


# --- 2. under the lock --------------------------------------------------------------------

@dataclass
class RunParts:
    """A run's built objects: what ``run_training`` trains, tests and reports with."""

    site: RunSite
    resolved: Any  # the Recipe with the model table filled in (as resolved.toml holds it)
    splits: set[str]
    train_loader: Any
    val_loader: Any
    training: TrainParts
    init_from: str | Path | dict[str, Any] | None
    notes: list[tuple[str, str]] = field(default_factory=list)  # ("info"|"warning", line) to log


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


def _follow_archive(spec: Any, work_dir: Path, moved: Path, notes: list[tuple[str, str]]) -> Any:
    """``init_from`` (a path, or a table with ``path``) pointed into the work dir's earlier
    outputs, which were just moved to ``moved``: the same file at its new place."""
    path = spec.get("path") if isinstance(spec, dict) else spec
    if not path:
        return spec
    try:
        rel = Path(os.path.abspath(path)).relative_to(os.path.abspath(work_dir))
    except ValueError:
        return spec
    new = moved / rel
    if not new.exists():
        return spec
    notes.append(("info", f"init_from: {path} was among the earlier run's outputs; loading it from {new}"))
    return {**spec, "path": str(new)} if isinstance(spec, dict) else str(new)


def build_run(recipe: Any, site: RunSite, held: Any, *, init_from: str | Path | None) -> RunParts:
    """Everything a run trains with, built once, in dependency order (see the module
    docstring). The log lines about what was built are returned in ``notes`` and logged,
    in order, by the logger built here. ``held``: the work dir as ``workdir.open_work_dir``
    holds it (its lock, what its tidying removed and moved)."""
    from .._data import build_dataloader, build_dataset
    from .._recipe import Recipe, write_resolved
    from .build import build_metrics, build_model, model_table
    from .download import embedded_fallback
    from .log import RankLogger, RunLogger

    data, cfg, ctx, work_dir, file = site.data, site.config, site.ctx, site.work_dir, recipe.file
    notes: list[tuple[str, str]] = [("info", f"recipe {file}  ->  work dir {work_dir}")]
    seed = int(data.get("seed", 0))
    data_table = data.get("data") or {}
    lock, stale, moved = held.lock, held.stale, held.moved
    dist.barrier()  # rank 0 has tidied the work dir, each machine's download is done
    # a restarted run that resumes has its weights from last.pth; --init-from was its start
    init_from = None if site.resume and site.restarted else init_from or (cfg.init_from if not site.resume else None)
    if moved:  # weights to start from may have been among the outputs just moved aside
        init_from = _follow_archive(init_from, work_dir, moved, notes)
    # the download failed (rank 0 said so, one line): every rank uses the embedded set, and
    # resolved.toml records it as data.root
    embedded = embedded_fallback(site.data_root)
    if embedded is not None:
        data.setdefault("data", {})["root"] = str(embedded)
    if lock.replaced:
        notes.append(("warning", f"took over the lock of a run that is gone ({lock.replaced.get('host')}, "
                                 f"pid {lock.replaced.get('pid')}, started {lock.replaced.get('started')})"))
    if stale:
        notes.append(("info", f"removed {len(stale)} partial file(s) a killed run left: "
                              + ", ".join(p.name for p in stale[:5])))
    if moved:
        notes.append(("info", f"the work dir held an earlier run's outputs; they were moved to {moved} "
                              "(delete it if you do not need them)"))
    # datasets, then what depends on their classes: the model table, resolved.toml, the model
    seed_everything(seed)
    splits = splits_of(data)
    train_ds = build_dataset(data, "train", recipe_file=file)
    val_ds = build_dataset(data, "val", recipe_file=file) if "val" in splits else None
    classes = list(getattr(train_ds, "classes", []) or [])
    if val_ds is not None and classes and hasattr(val_ds, "adopt_classes"):
        val_ds.adopt_classes(classes)  # class names found in val, numbered as train's
    if val_ds is not None:  # a val label the model has no output for is never scored right
        from .._data.dataset import classes_mismatch
        from .._errors import DataError

        problem = classes_mismatch(classes, list(getattr(val_ds, "classes", []) or []), "val")
        if problem:
            raise DataError(problem)
    data["model"] = model_table(data, len(classes) or None, file=file,
                                multi_label=bool(getattr(train_ds, "multi_label", False)))
    resolved = Recipe(data=data, path=recipe.path)
    if ctx.is_main:
        write_resolved(resolved, work_dir, seed=seed)
        if classes:  # the label map the model was trained with, line i = label i
            from .._outputs import write_output

            write_output(work_dir / "label_map.txt", "".join(f"{c}\n" for c in classes),
                         option="the work dir's")
    model = build_model(data["model"], file=file)
    said: list[str] = []  # the metric factories' warnings (a top-k that is always 1.0)
    metrics = build_metrics(data, file=file, needed_for="val" if val_ds is not None else None,
                            num_classes=len(classes) or None, notes=said,
                            best_metric=cfg.best_metric if val_ds is not None else None)
    notes += [("warning", line) for line in said if ctx.is_main]
    from .targets import Targets  # label smoothing, batch transforms, class weights

    targets = Targets.from_config(cfg, classes=classes, labels=[r[1] for r in getattr(train_ds, "records", [])],
                                  seed=seed, rank=ctx.rank, multi_label=bool(getattr(train_ds, "multi_label", False)),
                                  file=file, transforms=site.batch_transforms)
    if ctx.enabled:  # same initial weights everywhere (DDP sends rank 0's); own dropout masks
        torch.manual_seed(seed + 1_000_003 * ctx.rank)
    # the global batch, the learning rate scaled to it, the loaders
    batch_size = int(data_table.get("batch_size", 1))
    step_size = batch_size * ctx.world_size
    recipe_lr = cfg.optimizer.get("lr")
    cfg = scale_lr(cfg, step_size, file)
    shard = {"world": ctx.world_size, "rank": ctx.rank}
    train_loader = build_dataloader(data, "train", train_ds, **shard)
    val_loader = build_dataloader(data, "val", val_ds, shuffle=False, **shard) if val_ds is not None else None
    notes.extend(("info", line) for ld in (train_loader, val_loader) if ld is not None for line in ld.notes)
    for ds in (train_ds, val_ds):
        missing = getattr(ds, "missing", None)
        if missing:
            notes.append(("warning", f"{len(missing)} listed video(s) of data.{ds.split} not found; with "
                                     "on_error = \"skip\" they are skipped and reported like unreadable "
                                     f"ones: {'; '.join(missing[:3])}" + (" ..." if len(missing) > 3 else "")))
    if ctx.enabled:
        notes.append(("info", f"{ctx.world_size} processes ({'nccl' if ctx.gpu else 'gloo'}): "
                              f"batch {batch_size} per process, {step_size} per step"))
    if cfg.scale_lr:
        notes.append(("info", f"train.scale_lr: lr {recipe_lr} x {step_size} / "
                              f"{cfg.scale_lr['base_batch_size']} = {cfg.optimizer['lr']:.6g}"))
    if cfg.sync_bn and not ctx.enabled:
        notes.append(("info", "train.sync_bn: one process, BatchNorm left as it is"))
    notes.append(("info", f"train: {len(train_ds)} videos, {len(train_loader)} batches/epoch; "
                          f"val: {len(val_ds) if val_ds is not None else 0} videos; classes: {len(classes)}"))
    if getattr(train_ds, "classes_note", None):
        notes.append(("info", train_ds.classes_note))
    last = work_dir / "checkpoints" / "last.pth"
    if site.resume and site.restarted and site.resume == last:
        notes.append(("info", f"{dist.restart_cause()}: resuming from {last}"))
    # the logger, then the training set-up (the logger first: it owns the work dir's files)
    if ctx.is_main:
        from .loggers import build_loggers

        logger = RunLogger(work_dir, loggers=build_loggers(data, file=file), params=data)
    else:
        logger = RankLogger(ctx.rank)
    try:
        for level, line in notes:
            getattr(logger, level)(line)
        training = build_training(
            model, config=cfg, ctx=ctx, train_batches=train_loader.batches, steps_per_epoch=len(train_loader),
            val_batches=val_loader.__iter__ if val_loader is not None else None,  # one pass per call
            val_steps=len(val_loader) if val_loader is not None else None,
            metrics=metrics, work_dir=work_dir, classes=classes, recipe=data,
            recipe_toml=_recipe_toml(data), versions=_versions(), logger=logger,
            samples_per_step=step_size, targets=targets)
    except BaseException:
        logger.close("failed")
        raise
    return RunParts(site=site, resolved=resolved, splits=splits, train_loader=train_loader,
                    val_loader=val_loader, training=training,
                    init_from=init_from, notes=notes)
