"""Datasets and loaders from a recipe: per-sample rng, shuffling, resume, skip reporting.

``build_dataset(recipe, split)`` and ``build_dataloader(recipe, split, ...)`` are the
entry points the engine uses. Names are imported lazily (torch only when a loader is built).
"""

from __future__ import annotations

from ..lazy import lazy_getattr

_LAZY = {
    "build_dataset": "zelda_core.data.build",
    "decoder_spec": "zelda_core.data.build",
    "resolve_root": "zelda_core.data.build",
    "build_dataloader": "zelda_core.data.loader",
    "collate": "zelda_core.data.loader",
    "Loader": "zelda_core.data.loader",
    "EpochSampler": "zelda_core.data.sampler",
    "VideoDataset": "zelda_core.data.dataset",
    "read_label_map": "zelda_core.data.dataset",
    "sample_rng": "zelda_core.data.rng",
    "shuffle_order": "zelda_core.data.rng",
    "summarize_skipped": "zelda_core.data.report",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr(__name__, _LAZY)
