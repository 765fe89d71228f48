"""The per-epoch shuffling sampler that can start at a batch offset, and its batches."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from .rng import shuffle_order


def num_batches(samples: int, batch_size: int, drop_last: bool) -> int:
    """Batches that ``samples`` keys make (a short last batch counts unless dropped)."""
    return samples // batch_size if drop_last else -(-samples // batch_size)


class EpochSampler(Sampler):
    """Yields ``(index, epoch)`` keys: a fresh permutation per epoch, from (seed, epoch).

    The epoch travels with each key, so datasets in (persistent) workers derive the right
    rng without being told; ``epoch_keys = False`` yields plain int indices instead (for
    datasets that only take ints). ``start`` skips the first ``start`` positions of the
    epoch's order (``start_batch * batch_size`` to resume mid-epoch exactly).
    """

    def __init__(self, size: int, *, seed: int = 0, epoch: int = 0, shuffle: bool = True,
                 start: int = 0, epoch_keys: bool = True) -> None:
        self.size, self.seed, self.shuffle = int(size), int(seed), bool(shuffle)
        self.epoch, self.start = int(epoch), int(start)
        self.epoch_keys = bool(epoch_keys)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Move to ``epoch``, starting at position ``start`` of its order."""
        self.epoch, self.start = int(epoch), int(start)

    def order(self, epoch: int | None = None) -> np.ndarray:
        """The full index order of ``epoch`` (default: the current one)."""
        epoch = self.epoch if epoch is None else epoch
        if self.shuffle:
            return shuffle_order(self.size, self.seed, epoch)
        return np.arange(self.size)

    def keys(self, epoch: int, start: int = 0) -> list[tuple[int, int] | int]:
        """The keys of ``epoch`` from position ``start`` on."""
        order = self.order(epoch)[start:].tolist()
        return [(i, epoch) for i in order] if self.epoch_keys else order

    def __iter__(self) -> Iterator[tuple[int, int] | int]:
        yield from self.keys(self.epoch, self.start)

    def __len__(self) -> int:
        return max(self.size - self.start, 0)


class ContinuousBatchSampler(Sampler):
    """Batches of ``sampler``'s keys, epoch after epoch without end, from its current
    (epoch, start). No batch spans two epochs.

    One DataLoader iterator over it never ends an epoch, so its workers prefetch the next
    epoch's first batches while the last ones train and validation runs: no stall while
    the workers refill at each epoch start. Needs epoch keys (the epoch reaches the
    workers inside each key).
    """

    def __init__(self, sampler: EpochSampler, batch_size: int, drop_last: bool = False) -> None:
        self.sampler, self.batch_size, self.drop_last = sampler, int(batch_size), bool(drop_last)

    def __iter__(self) -> Iterator[list[tuple[int, int] | int]]:
        epoch, start = self.sampler.epoch, self.sampler.start
        while True:
            keys = self.sampler.keys(epoch, start)
            for i in range(0, len(keys), self.batch_size):
                batch = keys[i:i + self.batch_size]
                if len(batch) == self.batch_size or not self.drop_last:
                    yield batch
            epoch, start = epoch + 1, 0

    def __len__(self) -> int:
        return num_batches(self.sampler.size, self.batch_size, self.drop_last)  # per epoch
