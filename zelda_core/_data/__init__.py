"""Datasets and loaders from a recipe: per-sample rng, shuffling, resume, skip reporting.

``build_dataset(recipe, split)`` and ``build_dataloader(recipe, split, ...)`` are the
entry points the engine uses. Names are imported lazily (torch only when a loader is built).
"""

from __future__ import annotations

from .._lazy import lazy_getattr

_LAZY = {
    "build_dataset": "zelda_core._data.build",
    "decoder_spec": "zelda_core._data.build",
    "resolve_root": "zelda_core._data.build",
    "split_folders": "zelda_core._data.build",
    "build_dataloader": "zelda_core._data.loader",
    "collate": "zelda_core._data.loader",
    "Loader": "zelda_core._data.loader",
    "EpochSampler": "zelda_core._data.sampler",
    "VideoDataset": "zelda_core._data.dataset",
    "read_label_map": "zelda_core._data.dataset",
    "sample_rng": "zelda_core._data.rng",
    "shuffle_order": "zelda_core._data.rng",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr(__name__, _LAZY)
