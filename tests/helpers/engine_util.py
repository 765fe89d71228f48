"""Helpers for the engine tests: a tiny separable clip set, small videos, a quick config."""

from __future__ import annotations

from pathlib import Path

import torch
from media import make_video
from zelda_conv3d.model import ClsHead, Conv3dTiny, recognizer

from zelda_core._engine.config import TrainConfig
from zelda_core.api import Normalize


def toy_model(num_classes: int = 2, dropout: float = 0.5) -> torch.nn.Module:
    return recognizer(Normalize(), Conv3dTiny(), ClsHead(num_classes, 128, dropout))


def toy_batches(epoch: int, start_batch: int = 0, *, n_batches: int = 4, batch_size: int = 4,
                views: int = 1, seed: int = 0):
    """Class 0: dark clips, class 1: bright clips; the same batches for the same epoch."""
    g = torch.Generator().manual_seed(seed * 1000 + epoch)
    out = []
    for _ in range(n_batches):
        labels = torch.randint(0, 2, (batch_size,), generator=g)
        low = torch.randint(0, 90, (batch_size, views, 3, 4, 16, 16), generator=g)
        x = torch.where(labels.view(-1, 1, 1, 1, 1, 1) == 1, low + 160, low).to(torch.uint8)
        out.append({"inputs": x, "label": labels, "meta": [{}] * batch_size, "skipped": []})
    return out[start_batch:]


def quick_config(**kw) -> TrainConfig:
    base = dict(epochs=2, device="cpu", optimizer={"type": "Adam", "lr": 1e-3},
                keep_checkpoints=2, channels_last=False)
    base.update(kw)
    return TrainConfig(**base)


def make_dataset(root: Path, n_train: int = 4, n_val: int = 2) -> Path:
    """root/{train,val}/*.mp4 + kinetics_tiny_{train,val}_video.txt (+ label_map.txt)."""
    for split, n in (("train", n_train), ("val", n_val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(n):
            label = i % 2
            name = f"{split}{i}.mp4"
            make_video(root / split / name, frames=24, pattern="bright" if label else "dark")
            lines.append(f"{name} {label}")
        (root / f"kinetics_tiny_{split}_video.txt").write_text("\n".join(lines) + "\n")
    (root / "label_map.txt").write_text("dark\nbright\n")
    return root


SMALL_PIPELINE = """[
    {{ type = "segment_sample", clip_len = 4, num_clips = {clips}{test} }},
    {{ type = "decode" }},
    {{ type = "resize", size = 40 }},
    {{ type = "center_crop", crop_size = 32 }},
    {{ type = "format_shape" }},
    {{ type = "pack" }},
]"""


def small_recipe(path: Path, root: Path, work_dir: Path, *, epochs: int = 2, extra: str = "",
                 test_split: bool = False) -> Path:
    """A recipe like kinetics_tiny.toml but 4x32x32 clips, so it runs in seconds."""
    train_p = SMALL_PIPELINE.format(clips=1, test="")
    val_p = SMALL_PIPELINE.format(clips=2, test=", test_mode = true")
    test = (f'\n[data.test]\ntype = "video_list"\nann_file = "kinetics_tiny_val_video.txt"\n'
            f'prefix = "val"\nlabel_map = "label_map.txt"\npipeline = {val_p}\n') if test_split else ""
    path.write_text(f"""
seed = 0
work_dir = "{work_dir}"

[data]
root = "{root}"
decoder = "pyav"
batch_size = 2
workers = 0

[data.train]
type = "video_list"
ann_file = "kinetics_tiny_train_video.txt"
prefix = "train"
label_map = "label_map.txt"
pipeline = {train_p}

[data.val]
type = "video_list"
ann_file = "kinetics_tiny_val_video.txt"
prefix = "val"
label_map = "label_map.txt"
pipeline = {val_p}
{test}
[model]
type = "recognizer"
[model.preprocessor]
type = "normalize"
[model.backbone]
type = "conv3d_tiny"
[model.head]
type = "cls_head"
dropout = 0.0

[train]
epochs = {epochs}
device = "auto"
optimizer = {{ type = "Adam", lr = 0.001 }}
{extra}

[metrics.accuracy]
type = "top_k_accuracy"
k = [1, 5]

[metrics.per_class]
type = "mean_class_accuracy"

[metrics.confusion]
type = "confusion_matrix"
""")
    return path


def small_run(tmp: Path) -> dict[str, Path]:
    """One epoch of :func:`small_recipe` on 2+2 generated videos, trained in-process: the
    recipe, data root, work dir, best checkpoint and one val video (the inputs that the
    output-path tests guard)."""
    from zelda_core._engine.train import run_training
    from zelda_core._recipe import load_recipe

    root = make_dataset(tmp / "data", n_train=2, n_val=2)
    recipe = small_recipe(tmp / "r.toml", root, tmp / "work", epochs=1)
    summary = run_training(load_recipe(str(recipe), []), plots=False)
    return {"root": root, "recipe": recipe, "work": tmp / "work",
            "ckpt": Path(summary["best_checkpoint"]), "video": root / "val" / "val0.mp4"}
