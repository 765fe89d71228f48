"""What zelda needs to know about each Hugging Face video classifier (plain data, no torch)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Arch:
    """One ``transformers`` video classification architecture.

    ``model_type``: the ``config.json`` ``model_type``; ``config``/``model``: the
    ``transformers`` class names; ``input_name``: the forward argument taking the
    (N, T, C, H, W) clip; ``frames_key``/``size_key``: the config keys holding the clip length
    and the side of the square crop the network is built for; ``fixed_size``: the
    positional embeddings take only that size; ``drop_path``: the config key of stochastic
    depth, None where the architecture has none; ``processor``: the defaults of its
    processor class (used where the checkpoint has no processor config)."""

    model_type: str
    config: str
    model: str
    input_name: str
    frames_key: str
    size_key: str
    fixed_size: bool
    drop_path: str | None
    processor: dict
    example: str
    help: str


_IMAGENET = {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
_HALF = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}

ARCHS: dict[str, Arch] = {
    "videomae": Arch(
        "videomae", "VideoMAEConfig", "VideoMAEForVideoClassification", "pixel_values",
        "num_frames", "image_size", True, None,
        {**_HALF, "size": {"shortest_edge": 224}, "crop_size": {"height": 224, "width": 224}},
        "MCG-NJU/videomae-base-finetuned-kinetics",
        "VideoMAE (Tong et al. 2022), ViT-B 86M params, 16x224x224 clips"),
    "vjepa2": Arch(
        "vjepa2", "VJEPA2Config", "VJEPA2ForVideoClassification", "pixel_values_videos",
        "frames_per_clip", "crop_size", False, "drop_path_rate",
        {**_IMAGENET, "size": {"shortest_edge": 292}, "crop_size": 256},
        "facebook/vjepa2-vitl-fpc16-256-ssv2",
        "V-JEPA 2 (Assran et al. 2025) with an attentive probe, ViT-L 300M params, 256px"),
    "timesformer": Arch(
        "timesformer", "TimesformerConfig", "TimesformerForVideoClassification", "pixel_values",
        "num_frames", "image_size", True, "drop_path_rate",
        {**_IMAGENET, "size": {"shortest_edge": 224}, "crop_size": {"height": 224, "width": 224}},
        "facebook/timesformer-base-finetuned-k400",
        "TimeSformer (Bertasius et al. 2021), divided space-time attention, 121M params, 8x224x224"),
    "vivit": Arch(
        "vivit", "VivitConfig", "VivitForVideoClassification", "pixel_values",
        "num_frames", "image_size", True, None,
        {**_HALF, "size": {"shortest_edge": 256}, "crop_size": {"height": 224, "width": 224},
         "rescale_factor": 1 / 127.5, "offset": True},
        "google/vivit-b-16x2-kinetics400",
        "ViViT (Arnab et al. 2021), factorised encoder, 89M params, 32x224x224 clips"),
}
"""The four architectures registered by name; ``hf_video`` takes any other checkpoint."""

BY_MODEL_TYPE = {a.model_type: name for name, a in ARCHS.items()}
