"""The per-epoch shuffling sampler that can start at a position, and its per-step batches.

With several processes (``world`` > 1) every rank derives the same epoch order from
(seed, epoch) and takes its share of it:

- training (``shard = "steps"``): step s is positions ``[s*g, (s+1)*g)`` of the order, with
  ``g = batch_size * world`` (the global batch); rank r takes the r-th of ``world`` equal
  slices of it (a short last step is split as evenly as possible, so a rank may get none).
  Global step s therefore sees exactly the samples of step s of one process at batch g.
- repeated augmentation (``repeats`` = k > 1): each video appears k times in a row in the
  epoch's order (each appearance with its own augmentation), and rank r takes every
  ``world``-th key of a step from position r on (DeiT's ``RASampler`` interleave), so the k
  copies of a video land on k different ranks; the step's samples are still exactly those
  of one process at batch g.
- evaluation (``shard = "block"``): rank r takes the r-th contiguous block of the order
  (sizes differ by at most one, no padding, no duplicates); concatenating the ranks'
  results in rank order gives the one-process order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from .rng import balanced_order, shuffle_order


def num_batches(samples: int, batch_size: int, drop_last: bool) -> int:
    """Batches that ``samples`` keys make (a short last batch counts unless dropped)."""
    return samples // batch_size if drop_last else -(-samples // batch_size)


def block(n: int, world: int, rank: int) -> tuple[int, int]:
    """``[start, end)`` of rank ``rank``'s contiguous share of ``n`` items (no padding)."""
    q, r = divmod(n, world)
    start = rank * q + min(rank, r)
    return start, start + q + (rank < r)


def step_batches(keys: Sequence[Any], batch_size: int, *, world: int = 1, rank: int = 0,
                 drop_last: bool = False, interleave: bool = False) -> list[list[Any]]:
    """Rank ``rank``'s batch of every global step over ``keys`` (see the module doc).
    ``interleave``: rank r takes positions r, r + world, ... of each step (same sizes)."""
    g = batch_size * world
    out = []
    for i in range(0, len(keys), g):
        chunk = list(keys[i:i + g])
        if len(chunk) < g and drop_last:
            break
        if interleave:
            out.append(chunk[rank::world])
        elif len(chunk) == g:
            out.append(chunk[rank * batch_size:(rank + 1) * batch_size])
        else:
            start, end = block(len(chunk), world, rank)
            out.append(chunk[start:end])
    return out


def appearances(order: np.ndarray) -> np.ndarray:
    """For each position of ``order``, how many times its index appeared before it."""
    order = np.asarray(order)
    by_index = np.argsort(order, kind="stable")
    ranked = order[by_index]
    firsts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    group_start = np.repeat(firsts, np.diff(np.r_[firsts, len(order)]))
    out = np.empty(len(order), dtype=np.int64)
    out[by_index] = np.arange(len(order)) - group_start
    return out


class EpochSampler(Sampler):
    """Yields ``(index, epoch)`` keys: a fresh permutation per epoch, from (seed, epoch).

    The epoch travels with each key, so datasets in (persistent) workers derive the right
    rng without being told; ``epoch_keys = False`` yields plain int indices instead (for
    datasets that only take ints). ``start`` skips the first ``start`` positions of the
    epoch's (global) order (``start_batch * batch_size * world`` to resume mid-epoch).
    Iterating yields this rank's keys (all keys with one process).

    ``weights`` (one per sample): the epoch draws ``size`` samples with replacement, in
    proportion to them (class-balanced sampling), instead of a permutation. ``repeats``:
    each drawn sample appears that many times in a row (repeated augmentation; the epoch
    is ``repeats`` times longer). A sample's second, third... appearance in an epoch gets
    the key ``(index, epoch, draw)``, so its augmentation differs; the first keeps
    ``(index, epoch)``, the key of a run with neither.
    """

    def __init__(self, size: int, *, seed: int = 0, epoch: int = 0, shuffle: bool = True,
                 start: int = 0, epoch_keys: bool = True, world: int = 1, rank: int = 0,
                 shard: str = "steps", batch_size: int = 1, repeats: int = 1,
                 weights: Sequence[float] | None = None) -> None:
        self.size, self.seed, self.shuffle = int(size), int(seed), bool(shuffle)
        self.epoch, self.start = int(epoch), int(start)
        self.epoch_keys = bool(epoch_keys)
        self.world, self.rank, self.shard, self.batch_size = int(world), int(rank), shard, int(batch_size)
        self.repeats = int(repeats)
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)
        if (self.repeats > 1 or self.weights is not None) and not self.epoch_keys:
            raise ValueError("repeated augmentation and class-balanced sampling need a dataset "
                             "that takes (index, epoch, draw) keys (epoch_keys = True)")

    @property
    def length(self) -> int:
        """Positions in one epoch's order (all ranks')."""
        return self.size * self.repeats

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Move to ``epoch``, starting at position ``start`` of its order."""
        self.epoch, self.start = int(epoch), int(start)

    def order(self, epoch: int | None = None) -> np.ndarray:
        """The full index order of ``epoch`` (default: the current one)."""
        epoch = self.epoch if epoch is None else epoch
        if self.weights is not None:
            order = balanced_order(self.weights, self.seed, epoch)
        elif self.shuffle:
            order = shuffle_order(self.size, self.seed, epoch)
        else:
            order = np.arange(self.size)
        return np.repeat(order, self.repeats) if self.repeats > 1 else order

    def keys(self, epoch: int, start: int = 0) -> list[tuple[int, ...] | int]:
        """The keys of ``epoch`` from position ``start`` on (all ranks')."""
        order = self.order(epoch)
        if not self.epoch_keys:
            return order[start:].tolist()
        if self.repeats == 1 and self.weights is None:
            return [(i, epoch) for i in order[start:].tolist()]
        draws = appearances(order)[start:].tolist()
        return [(i, epoch, d) if d else (i, epoch) for i, d in zip(order[start:].tolist(), draws)]

    def batches(self, epoch: int, start: int = 0, drop_last: bool = False) -> list[list[Any]]:
        """This rank's batch of each step of ``epoch`` from position ``start`` on."""
        keys = self.keys(epoch, start)
        if self.shard == "block" and self.world > 1:
            lo, hi = block(len(keys), self.world, self.rank)
            keys = keys[lo:hi]
            return [keys[i:i + self.batch_size] for i in range(0, len(keys), self.batch_size)]
        return step_batches(keys, self.batch_size, world=self.world, rank=self.rank,
                            drop_last=drop_last, interleave=self.repeats > 1)

    def __iter__(self) -> Iterator[tuple[int, int] | int]:
        for batch in self.batches(self.epoch, self.start):
            yield from batch

    def __len__(self) -> int:
        return sum(len(b) for b in self.batches(self.epoch, self.start))

    def steps(self, drop_last: bool = False) -> int:
        """Steps of the current epoch from its position on (this rank's batches)."""
        remaining = max(self.length - self.start, 0)
        if self.shard == "block" and self.world > 1:
            lo, hi = block(remaining, self.world, self.rank)
            return num_batches(hi - lo, self.batch_size, False)
        return num_batches(remaining, self.batch_size * self.world, drop_last)


class StepBatchSampler(Sampler):
    """This rank's batch of each step, from ``sampler``'s current (epoch, start).

    ``continuous``: epoch after epoch without end (no batch spans two epochs). One
    DataLoader iterator over it never ends an epoch, so its workers prefetch the next
    epoch's first batches while the last ones train and validation runs: no stall while
    the workers refill at each epoch start. Needs epoch keys (the epoch reaches the
    workers inside each key). A rank whose share of a short last step is empty gets an
    empty batch, so every rank takes part in every step.
    """

    def __init__(self, sampler: EpochSampler, drop_last: bool = False, continuous: bool = False) -> None:
        self.sampler, self.drop_last, self.continuous = sampler, bool(drop_last), bool(continuous)

    def __iter__(self) -> Iterator[list[tuple[int, int] | int]]:
        epoch, start = self.sampler.epoch, self.sampler.start
        while True:
            yield from self.sampler.batches(epoch, start, self.drop_last)
            if not self.continuous:
                return
            epoch, start = epoch + 1, 0

    def __len__(self) -> int:
        return self.sampler.steps(self.drop_last)  # per epoch
