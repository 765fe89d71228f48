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
_MASK = (1 << 64) - 1


def _key(*values: int) -> list[int]:
    return [int(v) & _MASK for v in values]  # SeedSequence takes non-negative ints only


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator a sample's transforms use."""
    return np.random.default_rng(_key(SAMPLE_STREAM, seed, epoch, index))


def shuffle_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The permutation of ``range(n)`` used for ``epoch``."""
    return np.random.default_rng(_key(SHUFFLE_STREAM, seed, epoch)).permutation(n)


def replacement_index(n: int, seed: int, epoch: int, index: int, attempt: int) -> int:
    """The sample that replaces a failed one (on_error = "skip"), deterministic."""
    rng = np.random.default_rng(_key(REPLACE_STREAM, seed, epoch, index, attempt))
    return int(rng.integers(n))
