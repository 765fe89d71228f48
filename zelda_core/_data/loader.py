"""Batches from torch's DataLoader: per-epoch shuffle, resume at a batch, skip reporting.

A batch is ``{"inputs": uint8 (B, V, C, T, H, W), "label": int64 (B,) (float32 (B, K)
multi-hot for a multi-label dataset), "meta": [dict], "records": [int] (each sample's
dataset index), "skipped": [(filename, reason)]}``. Errors in workers (on_error = "raise") travel inside
the batch and are raised in the main process as one clean DataError.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, default_collate

from .. import _preempt
from .._deferred import DeferredBatch, DeferredFrames, run_tail
from .._errors import DataError
from .balance import sample_weights
from .build import _recipe_parts, build_dataset
from .sampler import EpochSampler, StepBatchSampler
from .workers import resolve_workers


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack packed samples into the batch format; errors are passed on, not raised."""
    errors = [s["error"] for s in samples if "error" in s]
    skipped = [tuple(t) for s in samples if "error" not in s for t in s.get("skipped", ())]
    good = [s for s in samples if "error" not in s and "inputs" in s]  # not the unreplaced skips
    unpacked = [s for s in samples if "error" not in s and "inputs" not in s and set(s) != {"skipped"}]
    if unpacked:  # a pipeline that does not end with pack: never dropped silently
        errors.append(f"{len(unpacked)} sample(s) came out of the pipeline without 'inputs' (keys: "
                      f"{', '.join(sorted(map(str, unpacked[0])))[:300]}): end the split's pipeline "
                      "with format_shape and pack")
    batch: dict[str, Any] = {"meta": [s.get("meta", {}) for s in good], "skipped": skipped,
                             "records": [s.get("record") for s in good]}
    if good:
        shapes = {tuple(s["inputs"].shape) for s in good}
        if len(shapes) > 1:
            listing = "; ".join(f"{s.get('meta', {}).get('filename', '?')}: {tuple(s['inputs'].shape)}"
                                for s in good)
            errors.append(f"samples of one batch have different shapes ({listing}); end the "
                          f"pipeline with a fixed size (a crop or resize to [h, w]) or use "
                          f"batch_size = 1")
        elif any(isinstance(s["inputs"], DeferredFrames) for s in good):  # data.device_tail
            batch["inputs"] = DeferredBatch(s["inputs"] if isinstance(s["inputs"], DeferredFrames)
                                            else DeferredFrames(s["inputs"]) for s in good)
            batch["label"] = _labels([s["label"] for s in good])
        else:
            batch["inputs"] = default_collate([s["inputs"] for s in good])
            batch["label"] = _labels([s["label"] for s in good])
    if errors:
        batch["errors"] = errors
    return batch


def _labels(labels: list[Any]) -> torch.Tensor:
    """int64 (B,) class indices, or float32 (B, K) multi-hot rows (a multi-label dataset)."""
    if labels and isinstance(labels[0], torch.Tensor) and labels[0].dim() == 1:
        return torch.stack(labels).to(torch.float32)
    return torch.tensor([int(v) for v in labels], dtype=torch.int64)


class Loader:
    """An iterable of batches over a torch DataLoader; ``set_epoch`` moves it on.

    Reusing one Loader across epochs keeps persistent workers alive. A ``continuous``
    Loader keeps one DataLoader iterator over all epochs (see StepBatchSampler):
    each ``iter()`` yields one epoch, and moving on to the next epoch in order does not
    restart the workers' prefetching.
    """

    def __init__(self, dataloader: DataLoader, sampler: EpochSampler, batch_size: int,
                 drop_last: bool = False, continuous: bool = False) -> None:
        self.dataloader, self.sampler = dataloader, sampler
        self.batch_size, self.drop_last = batch_size, drop_last
        self.step_size = batch_size * sampler.world  # samples per step, all ranks together
        self.continuous = continuous
        self._it: Iterator[Any] | None = None  # the running iterator (continuous only)
        self.notes: list[str] = []  # for the run log: where the pipeline's steps run

    @property
    def dataset(self) -> Any:
        return self.dataloader.dataset

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Next iteration yields ``epoch``'s batches from ``start_batch`` on."""
        start = start_batch * self.step_size
        if self._it is not None and (self.sampler.epoch, self.sampler.start) == (epoch, start):
            return  # the running iterator is already there
        self._it = None
        self.sampler.set_epoch(epoch, start)
        generator = getattr(self.dataloader, "generator", None)
        if generator is not None:  # the workers' base seed: from (seed, epoch), as samples are
            generator.manual_seed(hash((self.sampler.seed, epoch)) & (2**63 - 1))
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def batches(self, epoch: int, start_batch: int = 0) -> Loader:
        """``epoch``'s batches from ``start_batch`` on (the engine's ``train_batches``)."""
        self.set_epoch(epoch, start_batch)
        return self

    def close(self) -> None:
        """Stop the workers now (persistent ones otherwise live as long as the Loader)."""
        # torch keeps the persistent workers' iterator in a private attribute and offers no
        # public way to stop them short of dropping every reference to it
        it = getattr(self.dataloader, "_iterator", None)
        it = self._it if it is None else it
        if hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()
        self._it = None
        self.dataloader._iterator = None

    def __len__(self) -> int:
        return self.sampler.steps(self.drop_last)

    def _checked(self, batch: dict[str, Any]) -> dict[str, Any]:
        errors = batch.pop("errors", None)
        if errors:
            raise DataError("\n".join(errors) if len(errors) > 1 else errors[0])
        if isinstance(batch.get("inputs"), DeferredBatch):  # the device tail, in one batched step
            batch["inputs"] = run_tail(batch["inputs"])
        return batch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if not self.continuous:
            for batch in self.dataloader:
                yield self._checked(batch)
            return
        if self._it is None:
            self._it = iter(self.dataloader)  # starts at the sampler's (epoch, start)
        for _ in range(len(self)):
            batch = next(self._it)
            self.sampler.start += self.step_size  # the sampler tracks the position
            yield self._checked(batch)
        self.sampler.set_epoch(self.sampler.epoch + 1, 0)


def build_dataloader(recipe: dict, split: str, dataset: Any = None, *, epoch: int = 0,
                     start_batch: int = 0, shuffle: bool | None = None, world: int = 1,
                     rank: int = 0) -> Loader:
    """Batches of ``split``: settings from ``recipe["data"]``, seed from ``recipe["seed"]``.

    ``shuffle`` defaults to True for "train". ``start_batch`` resumes mid-epoch: the
    batches are exactly those an uninterrupted epoch yields from that batch on.
    With ``world`` processes, this is rank ``rank``'s share (``data.batch_size`` per
    process): a shuffled split is sharded by steps, an unshuffled one in contiguous
    blocks (see ``zelda_core._data.sampler``).
    """
    data_all, file = _recipe_parts(recipe, None)
    data = data_all.get("data", {})
    if dataset is None:
        dataset = build_dataset(recipe, split, recipe_file=file)
    seed = int(data_all.get("seed", 0))
    if hasattr(dataset, "set_seed"):
        dataset.set_seed(seed)
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    if hasattr(dataset, "defer_errors"):
        dataset.defer_errors = True
    shuffle = (split == "train") if shuffle is None else bool(shuffle)
    batch_size = int(data.get("batch_size", 1))
    workers = resolve_workers(data.get("workers", 0))
    if batch_size < 1 or workers < 0:
        raise DataError(f"data.batch_size must be >= 1 and data.workers >= 0, got "
                        f"{batch_size} and {workers}")
    drop_last = bool(data.get("drop_last", False)) and shuffle
    # repeated augmentation and class-balanced sampling shape the training order only
    repeats = int(data.get("repeated_augmentation", 1)) if shuffle else 1
    balance = data.get("class_balance") if shuffle else None
    weights = sample_weights(dataset, balance, file) if balance is not None else None
    epoch_keys = bool(getattr(dataset, "epoch_keys", False))
    if (repeats > 1 or weights is not None) and not epoch_keys:
        raise DataError(f"data.repeated_augmentation and data.class_balance need a dataset that "
                        f"takes (index, epoch, draw) keys, as zelda's VideoDataset does; "
                        f"{type(dataset).__name__} does not (epoch_keys is false)")
    sampler = EpochSampler(len(dataset), seed=seed, epoch=epoch, shuffle=shuffle,
                           start=start_batch * batch_size * world, epoch_keys=epoch_keys,
                           world=world, rank=rank, shard="steps" if shuffle else "block",
                           batch_size=batch_size, repeats=repeats, weights=weights)
    pin = data.get("pin_memory", "auto")
    pin = torch.cuda.is_available() if pin == "auto" else bool(pin)
    kwargs: dict[str, Any] = {}
    if workers > 0:
        kwargs["persistent_workers"] = bool(data.get("persistent_workers", False))
        if data.get("prefetch") is not None:
            kwargs["prefetch_factor"] = int(data["prefetch"])
        if _preempt.installed():  # a SLURM job: only the training process takes the stop signal
            kwargs["worker_init_fn"] = _preempt.worker_init
    across = data.get("prefetch_across_epochs", "auto")
    across = torch.cuda.is_available() if across == "auto" else bool(across)
    continuous = (split == "train" and workers > 0 and kwargs["persistent_workers"]
                  and sampler.epoch_keys and across)
    # its own generator: iter(DataLoader) would otherwise draw the workers' base seed from
    # the global torch RNG, which dropout also uses, and a mid-epoch resume (that restores
    # the RNG, then starts a new iterator) would shift every later dropout mask
    kwargs["generator"] = torch.Generator().manual_seed(hash((seed, epoch)) & (2**63 - 1))
    notes = _device_tail(dataset, data.get("device_tail", "auto"), split)
    dataloader = DataLoader(dataset, batch_sampler=StepBatchSampler(sampler, drop_last, continuous),
                            num_workers=workers, collate_fn=collate, pin_memory=pin, **kwargs)
    loader = Loader(dataloader, sampler, batch_size, drop_last, continuous)
    loader.notes = notes
    return loader


def _device_tail(dataset: Any, setting: Any, split: str) -> list[str]:
    """Switch the pipeline's deferred tail on for ``data.device_tail`` (``"auto"``: when the
    decoder decodes on a GPU, its ``device`` option naming CUDA; ``true``: also for frames
    decoded on the CPU, whose tail then runs batched in the main process on the CPU).
    Returns the run log's line saying which steps run where."""
    from .._pipeline import Pipeline

    decoder = getattr(dataset, "decoder", None)
    device = str(decoder.get("device", "cpu")) if isinstance(decoder, dict) else "cpu"
    on = setting is True or (setting == "auto" and device.startswith("cuda"))
    pipeline = getattr(dataset, "pipeline", None)
    if not on or not isinstance(pipeline, Pipeline):
        return []
    tail, cpu = pipeline.tail_plan()
    if not tail:
        return []
    pipeline.defer_tail = True
    where = f"the GPU ({device})" if device.startswith("cuda") else "the CPU"
    line = (f"data.{split}: frames decoded on {device}; {', '.join(tail)} run on {where} as one "
            "batched step in the main process when the batch arrives")
    if cpu:
        line += f"; {', '.join(cpu)} per sample on the CPU (not deferrable)"
    return [line]
