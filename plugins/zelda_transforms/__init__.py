"""zelda bundled plugin: transforms (registered through the 'zelda' entry-point group).

Registration is lazy ("module:attr" strings): importing this plugin imports nothing heavy.
See docs/pipeline.md for every transform and its parameters.
"""

from __future__ import annotations

from zelda_core.api import hookimpl

TRANSFORMS = {
    "init": ("loading:Init", "open the video with the recipe's decoder (optional)"),
    "segment_sample": ("sampling:SegmentSample", "the tutorial's sampler: one random frame per equal segment"),
    "sample_frames": ("sampling:SampleFrames", "MMAction2's SampleFrames (clip_len x frame_interval x num_clips)"),
    "uniform_sample": ("sampling:UniformSample", "MMAction2's UniformSample (TSN/SSv2 style)"),
    "decode": ("loading:Decode", "decode the sampled frames (all clips in one pass)"),
    "resize": ("geometry:Resize", "resize frames: short side, exact size or MMAction2 scale"),
    "center_crop": ("geometry:CenterCrop", "centre crop"),
    "random_crop": ("geometry:RandomCrop", "random square crop"),
    "random_resized_crop": ("geometry:RandomResizedCrop", "random area/aspect crop (Inception style)"),
    "multi_scale_crop": ("geometry:MultiScaleCrop", "TSN multi-scale crop"),
    "flip": ("geometry:Flip", "random flip, with optional label map"),
    "three_crop": ("geometry:ThreeCrop", "three crops along the long side (test)"),
    "ten_crop": ("geometry:TenCrop", "corners + centre and their flips (test)"),
    "rand_augment": ("augment:RandAugment", "timm's RandAugment (rand-mM-nN-mstdS), one draw per sample"),
    "trivial_augment": ("augment:TrivialAugmentWide", "torchvision's TrivialAugmentWide, one draw per sample"),
    "color_jitter": ("augment:ColorJitter", "torchvision's ColorJitter, one draw per sample"),
    "grayscale": ("augment:Grayscale", "torchvision's RandomGrayscale, one draw per sample"),
    "random_erasing": ("erasing:RandomErasing", "timm's RandomErasing, the same boxes on every frame"),
    "format_shape": ("formatting:FormatShape", "frames to (views, C, T, H, W), no normalizing"),
    "pack": ("formatting:Pack", "uint8 tensor + label + metadata"),
}


@hookimpl
def register_transforms(register) -> None:
    for name, (target, text) in TRANSFORMS.items():
        register(name, f"{__name__}.{target}", help=text)
