"""The training engine: device/AMP, optimizers, checkpoints, the train/eval loop, logging.

Public names are imported lazily, so ``import zelda_core.engine`` imports no torch.
"""

from __future__ import annotations

from ..lazy import lazy_getattr

_LAZY = {
    "TrainConfig": "zelda_core.engine.config",
    "parse_train_config": "zelda_core.engine.config",
    "TrainingError": "zelda_core.engine.errors",
    "select_device": "zelda_core.engine.device",
    "Trainer": "zelda_core.engine.loop",
    "evaluate": "zelda_core.engine.loop",
    "save_checkpoint": "zelda_core.engine.checkpoint",
    "load_checkpoint": "zelda_core.engine.checkpoint",
    "run_training": "zelda_core.engine.runner",
    "test_checkpoint": "zelda_core.engine.runner",
    "model_from_checkpoint": "zelda_core.engine.runner",
    "ensure_dataset": "zelda_core.engine.download",
}

__all__ = list(_LAZY)

__getattr__ = lazy_getattr(__name__, _LAZY)
