"""The per-epoch shuffling sampler that can start at a batch offset."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from .rng import shuffle_order


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

    def order(self) -> np.ndarray:
        """The full index order of the current epoch."""
        if self.shuffle:
            return shuffle_order(self.size, self.seed, self.epoch)
        return np.arange(self.size)

    def __iter__(self) -> Iterator[tuple[int, int] | int]:
        epoch = self.epoch
        order = self.order()[self.start:].tolist()
        if not self.epoch_keys:
            yield from order
            return
        for i in order:
            yield (i, epoch)

    def __len__(self) -> int:
        return max(self.size - self.start, 0)
