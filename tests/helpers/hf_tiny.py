"""Tiny random ``transformers`` configs for the zelda_transformers tests (no download):
4 frames of 32x32, two encoder layers of width 32."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_COMMON = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2}

TINY: dict[str, dict[str, Any]] = {
    "videomae": {**_COMMON, "image_size": 32, "patch_size": 16, "num_frames": 4,
                 "tubelet_size": 2, "intermediate_size": 37},
    "vjepa2": {**_COMMON, "crop_size": 32, "patch_size": 16, "frames_per_clip": 4,
               "tubelet_size": 2, "num_pooler_layers": 1, "pred_hidden_size": 32,
               "pred_num_attention_heads": 2, "pred_num_hidden_layers": 1},
    "timesformer": {**_COMMON, "image_size": 32, "patch_size": 16, "num_frames": 4,
                    "intermediate_size": 37},
    "vivit": {**_COMMON, "image_size": 32, "num_frames": 4, "tubelet_size": [2, 16, 16],
              "intermediate_size": 37},
}
"""Per architecture (zelda's model type), the ``*Config`` keys of a tiny network."""

CLIP = (4, 32)
"""(frames, side) every tiny config takes."""


def save_tiny_checkpoint(arch: str, folder: Path, *, num_labels: int = 5,
                         processor: dict[str, Any] | None = None, seed: int = 0) -> Path:
    """A local ``transformers`` folder (config.json + model.safetensors, and
    preprocessor_config.json when ``processor`` is given) of a tiny random ``arch``."""
    import torch
    import transformers
    from zelda_transformers.archs import ARCHS

    a = ARCHS[arch]
    cfg = getattr(transformers, a.config)(**TINY[arch], num_labels=num_labels,
                                          id2label={i: f"orig{i}" for i in range(num_labels)},
                                          label2id={f"orig{i}": i for i in range(num_labels)})
    torch.manual_seed(seed)
    getattr(transformers, a.model)(cfg).save_pretrained(folder)
    if processor is not None:
        (folder / "preprocessor_config.json").write_text(json.dumps(processor))
    return folder


def tiny_videomae_recipe(path: Path, root: Path, work_dir: Path, *, epochs: int = 2) -> Path:
    """A VideoMAE recipe with a tiny random config (4x32x32 clips) on ``root`` (a
    kinetics2_tiny layout); clip length, resize and crop come from the model (InputSpec)."""
    config = ", ".join(f"{k} = {json.dumps(v)}" for k, v in TINY["videomae"].items())
    pipeline = """[
    {{ type = "sample_frames", frame_interval = 4, num_clips = {clips}{test} }},
    {{ type = "decode" }},
    {{ type = "resize" }},
    {{ type = "{crop}" }},
    {{ type = "format_shape" }},
    {{ type = "pack" }},
]"""
    path.write_text(f"""
seed = 0
work_dir = "{work_dir}"

[data]
root = "{root}"
decoder = "pyav"
batch_size = 4
workers = 0

[data.train]
type = "video_list"
ann_file = "kinetics_tiny_train_video.txt"
prefix = "train"
label_map = "label_map.txt"
pipeline = {pipeline.format(clips=1, test="", crop="random_crop")}

[data.val]
type = "video_list"
ann_file = "kinetics_tiny_val_video.txt"
prefix = "val"
label_map = "label_map.txt"
pipeline = {pipeline.format(clips=2, test=", test_mode = true", crop="center_crop")}

[model]
type = "videomae"
config = {{ {config} }}

[train]
epochs = {epochs}
device = "cpu"
optimizer = {{ type = "AdamW", lr = 0.001 }}

[metrics.accuracy]
type = "top_k_accuracy"
k = [1]
""")
    return path
