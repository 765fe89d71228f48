"""Per-sample random generators: every random choice derives from (seed, epoch, index).

Independent of worker count and of the order samples are produced in, so a run is
reproducible with any number of workers and resumable mid-epoch.
"""

from __future__ import annotations

import numpy as np

SAMPLE_STREAM = 0
"""Stream tags keep the sample, shuffle and replacement generators independent."""
SHUFFLE_STREAM = 1
REPLACE_STREAM = 2
BALANCE_STREAM = 3
BATCH_STREAM = 8  # the training batch's own draws (mixup, cutmix): batch_rng
_MASK = (1 << 64) - 1


def _key(*values: int) -> list[int]:
    return [int(v) & _MASK for v in values]  # SeedSequence takes non-negative ints only


def sample_rng(seed: int, epoch: int, index: int, draw: int = 0) -> np.random.Generator:
    """The generator a sample's transforms use. ``draw``: which appearance of the video in
    the epoch (repeated augmentation, sampling with replacement); each gets its own
    augmentation, and the first (0) is the generator of a run without repeats."""
    if draw:
        return np.random.default_rng(_key(SAMPLE_STREAM, seed, epoch, index, draw))
    return np.random.default_rng(_key(SAMPLE_STREAM, seed, epoch, index))


def shuffle_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The permutation of ``range(n)`` used for ``epoch``."""
    return np.random.default_rng(_key(SHUFFLE_STREAM, seed, epoch)).permutation(n)


def balanced_order(weights: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """``len(weights)`` indices drawn with replacement, each with probability proportional to
    its weight (class-balanced sampling), for ``epoch``."""
    p = np.asarray(weights, dtype=np.float64)
    rng = np.random.default_rng(_key(BALANCE_STREAM, seed, epoch))
    return rng.choice(len(p), size=len(p), replace=True, p=p / p.sum())


def replacement_index(n: int, seed: int, epoch: int, index: int, attempt: int,
                      draw: int = 0) -> int:
    """The sample that replaces a failed one (on_error = "skip"), deterministic."""
    key = (REPLACE_STREAM, seed, epoch, index, attempt) + ((draw,) if draw else ())
    rng = np.random.default_rng(_key(*key))
    return int(rng.integers(n))


def batch_rng(seed: int, epoch: int, step: int, rank: int) -> np.random.Generator:
    """The generator a training batch's batch transforms use: step ``step`` of ``epoch``
    on process ``rank``, so a resumed run draws the same values."""
    return np.random.default_rng(_key(BATCH_STREAM, seed, epoch, step, rank))
