"""A fine-tuned model as the folder ``transformers`` loads: ``config.json`` (with the
fine-tuned labels as ``id2label``/``label2id``), ``model.safetensors`` and the processor
config of the pipeline the model was evaluated with (mean/std, resize, crop).

``AutoModelForVideoClassification.from_pretrained(folder)`` and
``AutoVideoProcessor.from_pretrained(folder)`` read it; so does this plugin
(``checkpoint = "folder"``), which is how ``zelda export --format hf`` verifies it and
``zelda predict folder`` runs it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from .archs import ARCHS
from .configs import accepts
from .source import PROCESSORS

PROCESSOR_TYPES = {"videomae": "VideoMAEVideoProcessor", "vjepa2": "VJEPA2VideoProcessor",
                   "timesformer": "TimesformerVideoProcessor", "vivit": "VivitVideoProcessor"}


def processor_config(model: Any, preprocessing: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(file name, processor config) reproducing zelda's test preprocessing: the source
    checkpoint's processor config (or the architecture's defaults) with zelda's mean/std,
    resize and crop."""
    model_type = str(getattr(model.net.config, "model_type", ""))
    base = copy.deepcopy(model.processor)
    if not base:
        arch = ARCHS.get(model_type)
        base = dict(arch.processor) if arch is not None else {}
        if model_type in PROCESSOR_TYPES:
            base["video_processor_type"] = PROCESSOR_TYPES[model_type]
    name = PROCESSORS[1] if "image_processor_type" in base else PROCESSORS[0]
    if model_type == "vivit":
        base.setdefault("offset", True)
    rescale = float(base.get("rescale_factor", 1 / 255)) if base.get("do_rescale", True) else 1.0
    offset = 1.0 if base.get("offset", False) else 0.0
    mean = model.preprocessor.mean.flatten().tolist()
    std = model.preprocessor.std.flatten().tolist()
    base.update(do_rescale=True, rescale_factor=rescale, do_normalize=True,
                image_mean=[m * rescale - offset for m in mean], image_std=[s * rescale for s in std])
    resize = (preprocessing.get("resize") or {}).get("size")
    if isinstance(resize, int):
        base.update(do_resize=True, size={"shortest_edge": resize})
    elif isinstance(resize, list) and len(resize) == 2:
        base.update(do_resize=True, size={"height": int(resize[0]), "width": int(resize[1])})
    crop = (preprocessing.get("crop") or {}).get("crop_size")
    if isinstance(crop, int):
        base.update(do_center_crop=True, crop_size={"height": crop, "width": crop})
    return name, base


def save_hf(model: Any, directory: Path, *, labels: list[str],
            preprocessing: dict[str, Any]) -> dict[str, Any]:
    """Write ``model`` into ``directory`` (which exists); returns the ``[model]`` table that
    builds the same zelda model from it (the folder named ".")."""
    net = model.net
    config = net.config
    saved = (dict(config.id2label), dict(config.label2id))
    config.id2label = dict(enumerate(labels))
    config.label2id = {name: i for i, name in enumerate(labels)}
    # a training-only value the config class would refuse on loading (TimeSformer's float
    # drop_path_rate) is saved as its default: from_pretrained must read the folder
    refused = {k: v for k, v in config.to_dict().items()
               if k.startswith("drop_path") and not accepts(config, k, v)}
    for k in refused:
        object.__setattr__(config, k, 0)
    try:
        net.save_pretrained(directory)
    finally:
        config.id2label, config.label2id = saved
        for k, v in refused.items():
            object.__setattr__(config, k, v)
    name, processor = processor_config(model, preprocessing)
    (directory / name).write_text(json.dumps(processor, indent=2) + "\n", encoding="utf-8")
    return {"type": model.arch if model.arch in ARCHS else "hf_video", "checkpoint": ".",
            "mean": model.preprocessor.mean.flatten().tolist(),
            "std": model.preprocessor.std.flatten().tolist(),
            "average_clips": model.average_clips, "multi_label": model.multi_label,
            "replace_classifier": False}
