"""Session fixtures for the deploy tests (export, predict, plot), imported by conftest.py.

- ``tiny_run`` / ``tiny_run2``: the small 4x32x32 recipe trained on generated dark/bright
  videos (seconds); ``tiny_run`` also draws its plots at the end of ``run_training``.
- ``k2_recipe_run``: ``recipes/kinetics_tiny.toml`` itself (16 frames, 5 clips, 224 crops)
  trained for 1 epoch on 2+2 kinetics2_tiny videos: the real input shapes, not a good model.
- ``separator``: a small model fit to one "typing" and one "doing exercises" clip, and the
  video made by joining those two clips (PyAV). It separates exactly those clips, which is
  what the sliding-window test needs: that windows are cut and sampled from the right part
  of the video. It says nothing about generalisation.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from deploy_helpers import KINETICS2, REPO, square_frames, write_video
from engine_util import make_dataset, small_recipe


def _train(recipe_path: Path, overrides: list[str] | None = None, plots: bool = False) -> dict:
    from zelda_core._engine.train import run_training
    from zelda_core._recipe import load_recipe

    return run_training(load_recipe(str(recipe_path), overrides or []), plots=plots)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("tiny_run")
    root = make_dataset(tmp / "data")
    recipe = small_recipe(tmp / "r.toml", root, tmp / "work", epochs=2)
    summary = _train(recipe, plots=True)
    return {"root": root, "work": tmp / "work", "ckpt": Path(summary["best_checkpoint"]),
            "recipe": recipe}


@pytest.fixture(scope="session")
def tiny_run2(tmp_path_factory, tiny_run) -> dict:
    tmp = tmp_path_factory.mktemp("tiny_run2")
    recipe = small_recipe(tmp / "r.toml", tiny_run["root"], tmp / "work2", epochs=1)
    _train(recipe, ["seed=1"])
    return {"work": tmp / "work2"}


@pytest.fixture(scope="session")
def kinetics2(shared_dir) -> Path:
    path = shared_dir / KINETICS2
    if not (path / "val").is_dir():
        pytest.skip(f"kinetics2_tiny not found at {path}")
    return path


def _subset_root(dest: Path, k2: Path, per_class: dict[str, int]) -> Path:
    """A data root whose train/val folders link to kinetics2_tiny's and whose annotation
    files list the first N videos of each class."""
    dest.mkdir(parents=True)
    for split in ("train", "val"):
        (dest / split).symlink_to(k2 / split, target_is_directory=True)
        lines = (k2 / f"kinetics_tiny_{split}_video.txt").read_text().splitlines()
        keep, seen = [], {}
        for line in lines:
            label = line.rsplit(None, 1)[1]
            if seen.get(label, 0) < per_class[split]:
                seen[label] = seen.get(label, 0) + 1
                keep.append(line)
        (dest / f"kinetics_tiny_{split}_video.txt").write_text("\n".join(keep) + "\n")
    shutil.copy(k2 / "label_map.txt", dest / "label_map.txt")
    return dest


@pytest.fixture(scope="session")
def k2_recipe_run(tmp_path_factory, kinetics2) -> dict:
    tmp = tmp_path_factory.mktemp("k2_recipe")
    root = _subset_root(tmp / "data", kinetics2, {"train": 2, "val": 2})
    summary = _train(REPO / "recipes/kinetics_tiny.toml", [
        f'data.root="{root}"', f'work_dir="{tmp / "work"}"', "train.epochs=1",
        "data.workers=0", "data.persistent_workers=false"])
    return {"root": root, "work": tmp / "work", "ckpt": Path(summary["last_checkpoint"])}


SEPARATOR_RECIPE = """
seed = 0
work_dir = "{work}"
[data]
root = "{root}"
batch_size = 2
workers = 0
[data.train]
type = "video_list"
ann_file = "src.txt"
prefix = "clips"
pipeline = [
    {{ type = "segment_sample", clip_len = 4, num_clips = 4 }},
    {{ type = "decode" }},
    {{ type = "resize", size = 40 }},
    {{ type = "random_crop", size = 32 }},
    {{ type = "flip", flip_ratio = 0.5 }},
    {{ type = "format_shape" }},
    {{ type = "pack" }},
]
[data.val]
type = "video_list"
ann_file = "src.txt"
prefix = "clips"
pipeline = [
    {{ type = "segment_sample", clip_len = 4, num_clips = 2, test_mode = true }},
    {{ type = "decode" }},
    {{ type = "resize", size = 40 }},
    {{ type = "center_crop", crop_size = 32 }},
    {{ type = "format_shape" }},
    {{ type = "pack" }},
]
[model]
type = "recognizer"
[model.preprocessor]
type = "normalize"
[model.backbone]
type = "conv3d_tiny"
channels = [16, 32]
[model.head]
type = "cls_head"
in_channels = 32
dropout = 0.0
[train]
epochs = 30
val_interval = 100
device = "cpu"
channels_last = false
optimizer = {{ type = "Adam", lr = 0.001 }}
[metrics.accuracy]
type = "top_k_accuracy"
k = [1]
"""

SEPARATOR_SECONDS = 5.0
SEPARATOR_FPS = 25


@pytest.fixture(scope="session")
def separator(tmp_path_factory, kinetics2) -> dict:
    """A "typing" clip joined to a "doing exercises" clip, and a model fit to the two."""
    tmp = tmp_path_factory.mktemp("separator")
    root = tmp / "data"
    (root / "clips").mkdir(parents=True)
    typing = square_frames(kinetics2 / "val/typing41.mp4", SEPARATOR_SECONDS, 64)
    exercise = square_frames(kinetics2 / "val/doing_exercises42.mp4", SEPARATOR_SECONDS, 64)
    write_video(root / "clips/typing.mp4", typing, SEPARATOR_FPS)
    write_video(root / "clips/exercise.mp4", exercise, SEPARATOR_FPS)
    (root / "src.txt").write_text("exercise.mp4 0\ntyping.mp4 1\n")
    shutil.copy(kinetics2 / "label_map.txt", root / "label_map.txt")  # found, not named
    joined = write_video(tmp / "joined.mp4", typing + exercise, SEPARATOR_FPS)
    recipe = tmp / "separator.toml"
    recipe.write_text(SEPARATOR_RECIPE.format(work=tmp / "work", root=root))
    summary = _train(recipe)
    return {"ckpt": Path(summary["last_checkpoint"]), "video": joined,
            "join": len(typing) / SEPARATOR_FPS, "duration": (len(typing) + len(exercise)) / SEPARATOR_FPS,
            "work": tmp / "work"}
