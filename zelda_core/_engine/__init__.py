"""The training engine: device/AMP, optimizers, checkpoints, the train/eval loop, logging.

Public names are imported lazily, so ``import zelda_core._engine`` imports no torch.
"""

from __future__ import annotations

from .._lazy import lazy_getattr

_LAZY = {
    "TrainConfig": "zelda_core._engine.config",
    "parse_train_config": "zelda_core._engine.config",
    "TrainingError": "zelda_core._engine.errors",
    "select_device": "zelda_core._engine.device",
    "Trainer": "zelda_core._engine.loop",
    "evaluate": "zelda_core._engine.evaluate",
    "save_checkpoint": "zelda_core._engine.checkpoint",
    "load_checkpoint": "zelda_core._engine.checkpoint",
    "run_training": "zelda_core._engine.train",
    "test_checkpoint": "zelda_core._engine.evaluate",
    "model_from_checkpoint": "zelda_core._engine.build",
    "place_model": "zelda_core._engine.device",
    "ensure_dataset": "zelda_core._engine.download",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr(__name__, _LAZY)
