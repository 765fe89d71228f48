"""The train/validate loop: epochs, AMP, accumulation, clipping, checkpoints, resume.

The loop is independent of how batches are made and of how its parts are built: it takes
``assemble.TrainParts`` (model placed, optimizer built, callables that return iterables of
batches ``{"inputs", "label", "meta", "skipped"}``), so tests feed it synthetic clips and
``zelda run`` (``assemble.build_run``) feeds it ``zelda_core._data`` loaders.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import _preempt
from .._contracts import check_loss
from . import checkpoint as ckpt_io
from . import distributed as dist
from .assemble import TrainParts
from .device import apply_channels_last
from .errors import CheckpointError, TrainingError, UnreadableSplitError, no_training_sample
from .evaluate import evaluate
from .finetune import init_from_checkpoint
from .log import show, show_metrics

Batches = Iterable[Mapping[str, Any]]


@dataclass
class FitResult:
    """What a finished run leaves behind."""

    epochs: int
    best_metric: str | None
    best_value: float | None
    best_epoch: int | None
    last_metrics: dict[str, float]
    checkpoint_dir: Path
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    ema_metrics: dict[str, float] = field(default_factory=dict)  # the EMA weights' (train.ema)
    best_weights: str = "raw"  # "ema" when best.pth and the after-training test use the EMA


class Trainer:
    """Trains the model of ``parts`` (built by ``assemble.build_training``: a recognizer
    with ``loss(inputs, labels)`` and ``predict(inputs)``, placed, with its optimizer).

    ``parts.train_batches(epoch, start_batch)`` returns the epoch's batches (the same epoch
    gives the same batches: sampling is seeded by (seed, epoch)); ``steps_per_epoch`` is
    their count. ``val_batches()`` (optional) returns the validation batches.

    Under torchrun (see ``distributed``) each rank is given its share of every step and of
    the validation set; the model is wrapped in DistributedDataParallel, the logged loss is
    the mean over all ranks' samples, and rank 0 alone writes checkpoints and logs.
    ``samples_per_step`` (the global batch) lets a mid-epoch checkpoint resume on another
    number of processes.
    """

    def __init__(self, parts: TrainParts):
        cfg = self.cfg = parts.config
        self.model, self.train_module = parts.model, parts.train_module
        self.device, self.dtype, self.channels_last = parts.device, parts.dtype, parts.channels_last
        self.device_line = parts.device_line
        self.finetune, self.optimizer = parts.finetune, parts.optimizer
        self.ema = parts.ema  # ema.Ema or None
        self.scheduler, self.warmup, self.scaler = parts.scheduler, parts.warmup, parts.scaler
        self.opt_steps_per_epoch = parts.opt_steps_per_epoch
        self.train_batches, self.steps_per_epoch = parts.train_batches, parts.steps_per_epoch
        self.val_batches, self.val_steps = parts.val_batches, parts.val_steps
        self.metrics = parts.metrics
        self.work_dir = parts.work_dir
        self.ckpt_dir = self.work_dir / "checkpoints"
        self.classes = parts.classes
        self.recipe, self.recipe_toml, self.versions = parts.recipe, parts.recipe_toml, parts.versions
        self.dist = parts.ctx
        self.log = parts.logger
        self.samples_per_step = parts.samples_per_step
        self.targets = parts.targets  # None: the loss is given the class indices
        self._input_shape: tuple[int, ...] | None = None  # for a rank's empty share of a step
        self._label_shape: tuple[int, ...] = ()  # () for class indices, (K,) for multi-hot rows
        self.skipped: list[tuple[str, str]] = []
        self._workers_started = False  # the run's very first batch waits for worker start-up
        self.resume_batch = 0  # batches of epoch `self.epoch` already trained (mid-epoch resume)
        self._progress: dict[str, float] = {}  # the running epoch's sums (saved mid-epoch)
        self._last_saved = "from an earlier run"  # what last.pth holds, for error messages
        # progress
        self.epoch = 0  # epochs completed
        self.global_step = 0  # optimizer steps done
        self.best: dict[str, Any] = {"metric": cfg.best_metric, "value": None, "epoch": None}
        self.last_metrics: dict[str, float] = {}
        self.ema_metrics: dict[str, float] = {}

    # --- checkpoints --------------------------------------------------------------------

    def state(self, iter_in_epoch: int = 0, rng_ranks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Everything a resumed run needs, as weights_only-safe plain data (``rng_ranks``:
        every rank's RNG state, gathered by :meth:`_rank_rngs`).

        ``iter_in_epoch`` > 0 marks a mid-epoch checkpoint: ``epoch`` epochs are complete
        and that many batches of the next one are trained."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "epoch": self.epoch,
            "iter_in_epoch": iter_in_epoch,
            "global_step": self.global_step,
            "best": dict(self.best),
            "rng": ckpt_io.rng_state(),
            "rng_ranks": rng_ranks,  # every rank's (its own dropout masks); None with one process
            "recipe": self.recipe,
            "recipe_toml": self.recipe_toml,
            "classes": self.classes,
            "versions": self.versions,
            "metrics": dict(self.last_metrics),
            "samples_per_step": self.samples_per_step,
            "world_size": self.dist.world_size,
            "epoch_progress": dict(self._progress) if iter_in_epoch else None,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "ema_metrics": dict(self.ema_metrics) if self.ema is not None else None,
        }

    def resume(self, path: str | Path) -> None:
        """Restore model, optimizer, scheduler, scaler, counters and RNG from ``path``
        (read by rank 0 and sent to the others: only rank 0 needs the file)."""
        ck = dist.broadcast(ckpt_io.load_checkpoint(path) if self.dist.is_main else None)
        ckpt_io.validate_resumable(ck, path)
        ckpt_io.check_finite_weights(ck["model"], path)  # not a later "loss is nan" at the lr
        iters = int(ck.get("iter_in_epoch") or 0)
        try:
            self.model.load_state_dict(ck["model"])
        except RuntimeError as exc:
            raise CheckpointError(
                f"{path} does not fit this recipe's model: {ckpt_io.state_dict_problem(exc)} "
                "(resume with the recipe the run was started with, or use --init-from)"
            ) from None
        self._resume_ema(ck, path)
        try:
            self.optimizer.load_state_dict(ck["optimizer"])
            if self.scheduler and ck.get("scheduler"):
                self.scheduler.load_state_dict(ck["scheduler"])
            if self.scaler.is_enabled() and ck.get("scaler"):
                self.scaler.load_state_dict(ck["scaler"])
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
            raise CheckpointError(
                f"{path}: its optimizer/scheduler state does not fit this recipe's "
                f"[train] settings ({type(exc).__name__}: {exc}); resume with the recipe the run "
                "was started with, or use --init-from to load only its weights") from None
        self.epoch, self.global_step = int(ck["epoch"]), int(ck.get("global_step", 0))
        self.resume_batch = iters
        self._resume_position(ck)
        if self.resume_batch >= self.steps_per_epoch:
            raise CheckpointError(
                f"{path} was saved after {iters} steps of an epoch, but an epoch here has "
                f"{self.steps_per_epoch}: the data changed since. Resume from an epoch-end "
                "checkpoint (epoch_N.pth)")
        progress = ck.get("epoch_progress")
        self._progress = dict(progress) if iters and isinstance(progress, dict) else {}
        self.best = dict(ck.get("best") or self.best)
        if self.cfg.best_metric and self.best.get("metric") != self.cfg.best_metric:
            self.best = {"metric": self.cfg.best_metric, "value": None, "epoch": None}
        self.last_metrics = dict(ck.get("metrics") or {})
        ranks = ck.get("rng_ranks")
        own = (ranks[self.dist.rank] if isinstance(ranks, list) and len(ranks) == self.dist.world_size
               and all(ckpt_io.valid_rng(r) for r in ranks) else ck["rng"])
        ckpt_io.set_rng_state(own)  # another number of processes: rank 0's (masks differ)
        dropped = self.log.rewind(self.epoch, iters)  # in the checkpoint's own steps
        if dropped:
            self.log.info(f"metrics.jsonl: {dropped} record(s) the interrupted run logged after this "
                          "checkpoint moved to metrics.discarded.jsonl (that training is redone)")
        if self.channels_last:  # load_state_dict copies values but keep the format explicit
            apply_channels_last(self.model)
        within = f" and {self.resume_batch} batch(es) of the next" if self.resume_batch else ""
        self.log.info(f"resumed from {path}: {self.epoch} epoch(s){within} done, step {self.global_step}")

    def _resume_ema(self, ck: dict[str, Any], path: str | Path) -> None:
        """The weight average as the checkpoint kept it; a checkpoint of a run without
        ``train.ema`` starts it at the resumed weights (said in the log)."""
        if self.ema is None:
            if ck.get("ema") is not None:
                self.log.info(f"{path} holds a weight average (train.ema) that this recipe does not "
                              "keep: it is dropped; the run goes on with the trained weights")
            return
        saved = ck.get("ema")
        if saved is None:
            self.ema.restart_from(self.model)
            self.log.info(f"{path} holds no weight average: train.ema starts from the resumed weights")
            return
        try:
            self.ema.load_state_dict(saved)
        except RuntimeError as exc:
            raise CheckpointError(f"{path}: its weight average (train.ema) does not fit this "
                                  f"recipe's model: {ckpt_io.state_dict_problem(exc)}") from None
        self.ema_metrics = dict(ck.get("ema_metrics") or {})

    def _resume_position(self, ck: dict[str, Any]) -> None:
        """A mid-epoch checkpoint of a run with another global batch (another number of
        processes): continue at the same sample of the epoch's order, rounded down to a
        step of this run (the samples in between are trained again, and said so)."""
        before = ck.get("samples_per_step")
        now = self.samples_per_step
        if not self.resume_batch or not before or not now or before == now:
            return
        position = self.resume_batch * int(before)
        self.resume_batch = position // now
        again = position - self.resume_batch * now
        note = f"; {again} sample(s) before it are trained again" if again else ""
        self.log.info(f"the checkpoint's run took {before} samples per step, this one {now}: resuming "
                      f"at sample {self.resume_batch * now} of the epoch (step {self.resume_batch + 1}){note}")

    def init_from(self, spec: str | Path | dict[str, Any], force: bool = False) -> dict[str, list[str]]:
        """Load weights only (``--init-from``/``train.init_from``: a path, or a table with
        ``map`` and ``skip``; shape-mismatched tensors are left out); report the rest.

        CheckpointError when no tensor matches (a checkpoint of another model) unless
        ``force``. Rank 0 reads the file and sends it to the other processes."""
        return init_from_checkpoint(self.model, spec, self.log, force=force,
                                    load=lambda p: dist.broadcast(
                                        ckpt_io.load_checkpoint(p) if self.dist.is_main else None))

    def _save_mid_epoch(self, epoch: int, batches_done: int) -> None:
        """``last.pth`` after ``batches_done`` batches of ``epoch`` (train.checkpoint_iters)."""
        self._last_saved = f"epoch {epoch + 1}, after batch {batches_done}"
        rngs = self._rank_rngs()
        if not self.dist.is_main:
            return
        ckpt_io.save_checkpoint(self.state(iter_in_epoch=batches_done, rng_ranks=rngs), self.ckpt_dir / "last.pth")
        self.log.record("checkpoint", self.global_step, epoch=epoch + 1, iter=batches_done)

    def _rank_rngs(self) -> list[dict[str, Any]] | None:
        """Every rank's RNG state (a collective: every rank saves at the same step), so that
        a resumed rank draws its own dropout masks, not rank 0's."""
        return dist.all_gather(ckpt_io.rng_state()) if self.dist.enabled else None

    def _save_epoch(self) -> Path:
        path = self.ckpt_dir / f"epoch_{self.epoch}.pth"
        self._last_saved = f"after epoch {self.epoch}"
        rngs = self._rank_rngs()
        if not self.dist.is_main:
            return path
        ckpt_io.save_checkpoint(self.state(rng_ranks=rngs), path)
        ckpt_io.atomic_copy(path, self.ckpt_dir / "last.pth")
        ckpt_io.prune(self.ckpt_dir, self.cfg.keep_checkpoints, upto=self.epoch)
        return path

    # --- training -----------------------------------------------------------------------

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _optimizer_step(self) -> float:
        cfg = self.cfg
        if cfg.clip_grad_norm:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad_norm)
        factor = self.warmup.factor(self.global_step)
        base = [g["lr"] for g in self.optimizer.param_groups]
        if factor != 1.0:
            for g in self.optimizer.param_groups:
                g["lr"] = g["lr"] * factor
        lr = self._lr()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.model)
        for g, b in zip(self.optimizer.param_groups, base):
            g["lr"] = b
        self.optimizer.zero_grad(set_to_none=True)
        self.global_step += 1
        if self.scheduler:
            self.scheduler.step_iter()
        return lr

    def _diverged(self, value: float, epoch: int, it: int) -> TrainingError:
        last = self.ckpt_dir / "last.pth"
        kept = (f"the last good checkpoint is kept: {last} ({self._last_saved})"
                if last.exists() else "no checkpoint had been written yet")
        return TrainingError(
            f"the training loss became {value} at epoch {epoch + 1}, iteration {it + 1} "
            f"(optimizer step {self.global_step}, lr {self._lr():.3g}); training stopped and "
            f"{kept}. Lower train.optimizer.lr, add train.warmup or train.clip_grad_norm, "
            "or set train.amp = 'none'; then --resume or start again."
        )

    def _local_inputs(self, batch: Mapping[str, Any], count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's inputs and labels; for a rank whose share of a short last step is
        empty, an empty batch of the run's clip shape (it still joins the step's collectives:
        DDP's gradient all-reduce, SyncBatchNorm)."""
        if self._input_shape is None and self.dist.enabled:  # once per run, on every rank
            shapes = dist.all_gather((tuple(batch["inputs"].shape[1:]), tuple(batch["label"].shape[1:]))
                                     if count else None)
            self._input_shape, self._label_shape = next(s for s in shapes if s is not None)
        if count:
            self._input_shape = tuple(batch["inputs"].shape[1:])
            self._label_shape = tuple(batch["label"].shape[1:])
            return batch["inputs"], batch["label"]
        assert self._input_shape is not None
        labels = (torch.empty((0, *self._label_shape), dtype=torch.float32) if self._label_shape
                  else torch.empty((0,), dtype=torch.int64))  # multi-hot rows, or class indices
        return torch.empty((0, *self._input_shape), dtype=torch.uint8), labels

    def train_epoch(self, epoch: int, start_batch: int = 0) -> dict[str, float]:
        """One epoch of training; returns mean loss, time and data-time share."""
        from tqdm import tqdm

        cfg, model = self.cfg, self.model
        model.train()
        if start_batch == 0:
            self._progress = {}
        progress = self._progress  # loss sum and count over the whole epoch, resumes included
        self.finetune.prepare_epoch(model, epoch)
        data_t = step_t = 0.0
        t_epoch = time.perf_counter()
        bar = tqdm(total=self.steps_per_epoch, initial=start_batch, disable=None if self.dist.is_main else True,
                   desc=f"epoch {epoch + 1}/{cfg.epochs}", file=sys.stderr, dynamic_ncols=True,
                   unit="it")
        pending = 0
        clips = 0
        skipped: list[tuple[str, str]] = []
        last_save = start_batch
        it = start_batch - 1
        world = self.dist.world_size
        stop_asked = False  # the scheduler's stop signal (zelda_core._preempt), agreed by all ranks
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        end = time.perf_counter()
        try:
            for it, batch in enumerate(self.train_batches(epoch, start_batch), start=start_batch):
                t_data = time.perf_counter() - end
                skipped += [tuple(item) for item in batch.get("skipped") or []]
                labels = batch.get("label")
                count = 0 if labels is None else len(labels)  # (B,) or multi-hot (B, K)
                if count == 0 and not self.dist.enabled:  # every sample of the batch was skipped
                    bar.update(1)
                    end = time.perf_counter()
                    continue
                inputs, labels = self._local_inputs(batch, count)
                if self.targets is not None:  # soft targets, mixup/cutmix on the device
                    inputs, labels = self.targets(inputs, labels, epoch=epoch, step=it, device=self.device)
                steps_now = pending + 1 == cfg.accumulate or it + 1 == self.steps_per_epoch
                # accumulation steps skip DDP's gradient all-reduce; the optimizer step syncs
                no_sync = (self.train_module.no_sync() if self.dist.enabled and not steps_now
                           else contextlib.nullcontext())
                with no_sync:
                    with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
                        loss = self.train_module(inputs, labels)
                    if count:
                        check_loss(loss, self.model, first=self.global_step == 0)
                    if self.dist.enabled:
                        # the mean over every rank's samples (what one process with the global
                        # batch computes), and each rank's weight in it: DDP averages gradients
                        # over ranks, so a rank's loss counts count/(global/world)
                        local = loss.detach().float() * count if count else loss.new_zeros((), dtype=torch.float32)
                        # a stop the scheduler asked any rank for rides along: every rank
                        # then stops at the same step
                        total = dist.all_sum(torch.stack([local, local.new_tensor(float(count)),
                                                          local.new_tensor(float(bool(_preempt.requested())))]))
                        value, global_count = float(total[0] / total[1]), int(total[1])
                        stop_asked = stop_asked or bool(total[2] > 0)
                        weight = count * world / global_count
                        if not count:
                            loss = torch.nan_to_num(loss) * 0.0  # the mean of nothing is nan
                    else:
                        value, global_count, weight = float(loss.detach()), count, 1.0
                        stop_asked = stop_asked or _preempt.requested() is not None
                    if not math.isfinite(value):
                        raise self._diverged(value, epoch, it)
                    self.scaler.scale(loss * (weight / cfg.accumulate)).backward()
                pending += 1
                lr = self._lr()
                save = False
                if steps_now:
                    lr = self._optimizer_step()
                    pending = 0
                    save = bool(cfg.checkpoint_iters and it + 1 - last_save >= cfg.checkpoint_iters
                                and it + 1 < self.steps_per_epoch)  # the epoch's end saves anyway
                t_step = time.perf_counter() - end
                end = time.perf_counter()
                progress["loss_sum"] = progress.get("loss_sum", 0.0) + value
                progress["batches"] = progress.get("batches", 0) + 1
                clips += global_count
                # later epochs count their first batch: refilling the workers' queues at
                # each epoch start is a real stall, most visible on a fast GPU
                if it > start_batch or self._workers_started:
                    data_t += t_data
                    step_t += t_step
                self.log.record("train", self.global_step, epoch=epoch + 1, iter=it + 1, loss=value,
                                lr=lr, data_time=round(t_data, 5), step_time=round(t_step, 5))
                if save:  # after the batch's record: a resumed run logs from the next batch on
                    self._save_mid_epoch(epoch, it + 1)
                    last_save = it + 1
                if stop_asked and steps_now and it + 1 < self.steps_per_epoch:  # else at the epoch's end
                    if not save:
                        self._save_mid_epoch(epoch, it + 1)
                    raise self._preempted(f"epoch {epoch + 1}, after batch {it + 1}")
                bar.set_postfix(loss=f"{value:.4f}", lr=f"{lr:.2e}", refresh=False)
                bar.update(1)
        finally:
            bar.close()
        self._workers_started = True
        if not clips and it >= start_batch:  # batches came, none held a sample
            raise no_training_sample(epoch, it + 1 - start_batch, skipped)
        if pending:  # an iterator shorter than steps_per_epoch: flush the accumulated grads
            self._optimizer_step()
        self._end_epoch(skipped)
        seconds = time.perf_counter() - t_epoch
        stats = {
            "loss": progress.get("loss_sum", 0.0) / max(1, progress.get("batches", 0)),
            "seconds": seconds,
            "data_share": data_t / step_t if step_t > 0 else 0.0,
            "iters": float(it + 1 - start_batch),
            "clips_per_s": clips / seconds if seconds > 0 else 0.0,
        }
        if self.device.type == "cuda":
            stats["gpu_mem_mib"] = torch.cuda.max_memory_allocated(self.device) / 2**20
        return stats

    def _stop_asked(self) -> bool:
        """Whether the scheduler asked any rank to stop (one collective, and only in a run
        SLURM started through ``zelda run --slurm``)."""
        if not _preempt.installed():
            return False
        asked = float(_preempt.requested() is not None)
        return bool(dist.all_sum(torch.tensor([asked], device=self.dist.gpu))[0] > 0)

    def _preempted(self, where: str) -> _preempt.Preempted:
        """The stop, logged: ``last.pth`` holds the training up to ``where``."""
        signum = _preempt.requested() or 15  # another rank's signal: SIGTERM's number
        stop = _preempt.Preempted(signum, where)
        self.log.warning(f"the scheduler asked the run to stop ({stop}); {self.ckpt_dir / 'last.pth'} "
                         "holds the training so far and the requeued job resumes from it")
        return stop

    def _end_epoch(self, skipped: list[tuple[str, str]]) -> None:
        """The epoch's collectives, together: every rank takes rank 0's buffers (BatchNorm
        statistics, the weight average's too), so every rank validates what the checkpoint
        holds; the samples skipped as unreadable this epoch, from every rank, logged once."""
        everyone = dist.all_gather(skipped)
        dist.sync_buffers(self.model)
        if self.ema is not None:
            dist.sync_buffers(self.ema.module)
        for items in everyone:
            for item in items:
                self.skipped.append(tuple(item))
                if self.dist.is_main:
                    self.log.warning(f"skipped {item[0]}: {item[1]}")

    def validate(self, desc: str = "val", model: torch.nn.Module | None = None) -> dict[str, float]:
        """Metrics on the validation batches (views averaged as the head says), of the
        trained weights or of ``model`` (the weight average)."""
        assert self.val_batches is not None
        model = model if model is not None else self.model  # its buffers: rank 0's (_end_epoch)
        return evaluate(model, self.val_batches(), self.metrics, device=self.device, dtype=self.dtype,
                        total=self.val_steps, desc=desc, skipped=self.skipped, ctx=self.dist)

    def _validate_all(self) -> tuple[dict[str, float], dict[str, float] | None]:
        """The trained weights' metrics and the weight average's (None without train.ema);
        the weights ``best`` is chosen on are evaluated last, so the metric files that the
        metrics write (confusion matrix ...) are theirs."""
        if self.ema is None:
            return self.validate(), None
        if self.ema.config.use == "ema":
            raw = self.validate()
            return raw, self.validate("val (ema)", self.ema.module)
        ema = self.validate("val (ema)", self.ema.module)
        return self.validate(), ema

    def _is_better(self, value: float) -> bool:
        best = self.best.get("value")
        if best is None or math.isnan(best):
            return not math.isnan(value)
        return value > best if self.cfg.best_mode == "max" else value < best

    def fit(self, resume: str | Path | None = None) -> FitResult:
        """Train for ``config.epochs`` epochs (from the checkpoint's epoch when resuming)."""
        cfg = self.cfg
        t0 = time.perf_counter()
        if resume:
            self.resume(resume)
        lines = [f"device: {self.device_line}", *self.finetune.describe(self.model, self.optimizer)]
        lines += [f"train targets: {line}" for line in (self.targets.lines if self.targets is not None else ())]
        if self.ema is not None:
            c = self.ema.config
            lines.append(f"ema: weight average with decay {c.decay}" + (f" (rising over {c.warmup} steps)"
                         if c.warmup else "") + "; best, test, export and predict use the "
                         + ("average" if c.use == "ema" else "trained weights"))
        for line in lines:
            self.log.info(line)
        if self.epoch >= cfg.epochs:
            self.log.info(f"nothing to do: {self.epoch} of {cfg.epochs} epochs are done "
                          "(raise train.epochs to train further)")
        for epoch in range(self.epoch, cfg.epochs):
            stats = self.train_epoch(epoch, self.resume_batch)
            self.resume_batch = 0
            self.epoch = epoch + 1
            line = (f"epoch {self.epoch}/{cfg.epochs}  loss {stats['loss']:.4f}  "
                    f"lr {self._lr():.3g}  {stats['seconds']:.1f} s  {stats['clips_per_s']:.1f} clips/s  "
                    f"data {stats['data_share']:.0%}")
            if "gpu_mem_mib" in stats:
                line += f"  mem {stats['gpu_mem_mib']:.0f} MiB"
            self.log.record("epoch", self.global_step, epoch=self.epoch, lr=self._lr(),
                            **{k: v for k, v in stats.items() if k != "iters"})
            if stats["data_share"] > cfg.data_time_warning and stats["iters"] > 2:
                self.log.warning(
                    f"epoch {self.epoch}: waiting for data took {stats['data_share']:.0%} of the "
                    f"step time (over {cfg.data_time_warning:.0%}): training is loader-bound; "
                    "raise data.workers, use a faster decoder or cheaper transforms"
                )
            metric_value = None
            is_best = False
            if self.val_batches is not None and self.metrics and (
                self.epoch % cfg.val_interval == 0 or self.epoch == cfg.epochs
            ):
                tv = time.perf_counter()
                try:
                    self.last_metrics, ema_metrics = self._validate_all()
                except UnreadableSplitError as exc:  # the epoch's training is kept
                    last = self.ckpt_dir / "last.pth"
                    self._save_epoch()
                    raise UnreadableSplitError(
                        exc.split, exc.skipped, kept=f"epoch {self.epoch}'s training is saved in {last} "
                        "(--resume continues from it)") from None
                tv = time.perf_counter() - tv
                if ema_metrics is not None:
                    self.ema_metrics = ema_metrics
                chosen = ema_metrics if ema_metrics is not None and self.ema.config.use == "ema" \
                    else self.last_metrics
                if self.best["metric"] is None:
                    self.best["metric"] = next((k for k in chosen if k != "samples"), None)
                name = self.best["metric"]
                if name is not None and name not in chosen:
                    raise TrainingError(
                        f"train.best_metric = {name!r} is not computed by the recipe's metrics; "
                        f"they give: {', '.join(k for k in chosen if k != 'samples')}"
                    )
                if name is not None:  # None: the metrics give no number (files only)
                    metric_value = chosen[name]
                    is_best = self._is_better(metric_value)
                    if is_best:
                        self.best.update(value=metric_value, epoch=self.epoch)
                self.log.record("val", self.global_step, epoch=self.epoch, seconds=tv, **self.last_metrics)
                line += f"  | val {show_metrics(self.last_metrics)} ({tv:.1f} s)"
                if ema_metrics is not None:
                    self.log.record("val_ema", self.global_step, epoch=self.epoch, **ema_metrics)
                    line += f"  | val (ema) {show_metrics(ema_metrics)}"
                if name is not None:
                    at = f" @ {self.best['epoch']}" if self.best["epoch"] is not None else ""
                    line += f"  [best {name} {show(self.best['value'])}{at}]"
            if self.scheduler:  # a plateau scheduler never sees a NaN
                self.scheduler.step_epoch(metric_value if metric_value is not None
                                          and math.isfinite(metric_value) else None)
            self.log.info(line)
            path = self._save_epoch()
            if is_best and self.dist.is_main:
                ckpt_io.atomic_copy(path, self.ckpt_dir / "best.pth")
            if self.epoch < cfg.epochs and self._stop_asked():
                raise self._preempted(f"after epoch {self.epoch}")
        best_path = self.ckpt_dir / "best.pth"
        last_path = self.ckpt_dir / "last.pth"
        # rank 0 wrote the files; the others wait for them and take its word on what exists
        dist.barrier()
        has_best, has_last = dist.broadcast((best_path.exists(), last_path.exists()))
        result = FitResult(
            epochs=self.epoch,
            best_metric=self.best.get("metric"),
            best_value=self.best.get("value"),
            best_epoch=self.best.get("epoch"),
            last_metrics=dict(self.last_metrics),
            checkpoint_dir=self.ckpt_dir,
            best_checkpoint=best_path if has_best else None,
            last_checkpoint=last_path if has_last else None,
            skipped=list(self.skipped),
            seconds=time.perf_counter() - t0,
            ema_metrics=dict(self.ema_metrics),
            best_weights="ema" if self.ema is not None and self.ema.config.use == "ema" else "raw",
        )
        return result
