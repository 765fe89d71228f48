"""The loader: batch format, reproducibility across worker counts, resume, skip and raise."""

from __future__ import annotations

import copy

import pytest
import torch
from media import make_corrupt, make_video
from pipeline_helpers import make_dataset

from zelda_core._data import EpochSampler, build_dataloader, build_dataset
from zelda_core._errors import DataError

PIPE = [{"type": "segment_sample", "clip_len": 4}, {"type": "decode"},
        {"type": "resize", "size": [32, 32]}, {"type": "random_resized_crop"},
        {"type": "resize", "size": [16, 16]}, {"type": "flip"},
        {"type": "format_shape"}, {"type": "pack"}]
NAMES = {f"v{i}.mp4": i % 3 for i in range(6)}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("loader"), NAMES, frames=24)


def recipe(root, decoder_name, *, ann="ann.txt", **data):
    return {"seed": 7, "data": {"root": str(root), "decoder": decoder_name, "batch_size": 2,
                                "workers": 0, **data,
                                "train": {"type": "video_list", "ann_file": ann,
                                          "prefix": "videos", "pipeline": copy.deepcopy(PIPE)}}}


def epoch_batches(loader):
    return [(b["inputs"].clone(), b["label"].clone(), [m["index"] for m in b["meta"]])
            for b in loader]


def same(a, b):
    return len(a) == len(b) and all(
        torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) and x[2] == y[2] for x, y in zip(a, b))


def test_batch_format(root, decoder_name):
    loader = build_dataloader(recipe(root, decoder_name), "train")
    assert len(loader) == 3
    batch = next(iter(loader))
    assert set(batch) == {"inputs", "label", "meta", "skipped", "records"}
    assert batch["inputs"].dtype == torch.uint8 and tuple(batch["inputs"].shape) == (2, 1, 3, 4, 16, 16)
    assert batch["label"].dtype == torch.int64 and batch["label"].shape == (2,)
    assert len(batch["meta"]) == 2 and batch["skipped"] == []
    assert [NAMES[m["filename"].rsplit("/", 1)[-1]] for m in batch["meta"]] == batch["label"].tolist()
    assert [m["index"] for m in batch["meta"]] == batch["records"]  # each sample's dataset index


def test_same_seed_same_clips_with_0_and_2_workers(root, decoder_name):
    a = epoch_batches(build_dataloader(recipe(root, decoder_name), "train", epoch=1))
    b = epoch_batches(build_dataloader(recipe(root, decoder_name, workers=2), "train", epoch=1))
    assert same(a, b)
    c = epoch_batches(build_dataloader(recipe(root, decoder_name), "train", epoch=2))
    assert not same(a, c)                              # a new epoch: new order and clips
    assert sorted(i for x in c for i in x[2]) == list(range(6))


def test_resume_mid_epoch_is_exact(root, decoder_name):
    full = epoch_batches(build_dataloader(recipe(root, decoder_name), "train", epoch=3))
    tail = build_dataloader(recipe(root, decoder_name), "train", epoch=3, start_batch=1)
    assert len(tail) == 2
    assert same(epoch_batches(tail), full[1:])


def test_persistent_workers_follow_set_epoch(root, decoder_name):
    loader = build_dataloader(recipe(root, decoder_name, workers=2, persistent_workers=True,
                                     prefetch=2), "train")
    first = epoch_batches(loader)
    loader.set_epoch(4)
    fourth = epoch_batches(loader)
    ref = epoch_batches(build_dataloader(recipe(root, decoder_name), "train", epoch=4))
    assert same(fourth, ref) and not same(first, fourth)


@pytest.mark.parametrize("batch_size", [2, 4])
def test_continuous_loader_matches_per_epoch_loaders(root, decoder_name, batch_size):
    """Persistent workers keep one iterator across epochs (no refill stall at each epoch
    start) and still yield exactly each epoch's batches; batches never span epochs."""
    loader = build_dataloader(recipe(root, decoder_name, workers=2, persistent_workers=True,
                                     batch_size=batch_size, prefetch_across_epochs=True), "train")
    assert loader.continuous
    refs = [epoch_batches(build_dataloader(recipe(root, decoder_name, batch_size=batch_size),
                                           "train", epoch=e)) for e in range(3)]
    iterators = []
    for e in range(3):
        loader.set_epoch(e)
        got = epoch_batches(loader)
        iterators.append(loader._it)
        assert same(got, refs[e]), e
    assert iterators[0] is iterators[1] is iterators[2]  # never restarted
    loader.set_epoch(1, 1)  # resume mid-epoch: a new iterator from that batch
    assert len(loader) == len(refs[1]) - 1 and same(epoch_batches(loader), refs[1][1:])
    loader.set_epoch(2)
    assert same(epoch_batches(loader), refs[2])
    workers = loader._it._workers
    loader.close()  # joins the workers; the loader still works afterwards
    assert not any(w.is_alive() for w in workers)
    loader.set_epoch(0)
    assert same(epoch_batches(loader), refs[0])
    plain = build_dataloader(recipe(root, decoder_name, workers=2, persistent_workers=True,
                                    prefetch_across_epochs=False), "train")
    assert not plain.continuous
    auto = build_dataloader(recipe(root, decoder_name, workers=2, persistent_workers=True), "train")
    assert auto.continuous == torch.cuda.is_available()


def test_unshuffled_order_and_val_default(root, decoder_name):
    r = recipe(root, decoder_name)
    r["data"]["val"] = copy.deepcopy(r["data"]["train"])
    loader = build_dataloader(r, "val")
    assert [i for x in epoch_batches(loader) for i in x[2]] == list(range(6))


def test_sampler_positions():
    s = EpochSampler(10, seed=1, epoch=0, shuffle=True, start=4)
    full = [i for i, _ in EpochSampler(10, seed=1, epoch=0, shuffle=True)]
    assert [i for i, _ in s] == full[4:] and len(s) == 6
    assert all(e == 0 for _, e in s)
    s.set_epoch(2)
    assert len(s) == 10 and {e for _, e in s} == {2}


@pytest.fixture(scope="module")
def bad_root(tmp_path_factory):
    root = make_dataset(tmp_path_factory.mktemp("bad"), NAMES, frames=24)
    make_corrupt(root / "videos" / "broken.mp4")
    lines = [f"{n} {lab}" for n, lab in NAMES.items()] + ["broken.mp4 1"]
    (root / "bad.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.parametrize("workers", [0, 2])
def test_skip_replaces_and_reports_corrupt_file(bad_root, decoder_name, workers):
    r = recipe(bad_root, decoder_name, ann="bad.txt", on_error="skip", workers=workers)
    loader = build_dataloader(r, "train")
    batches = list(loader)
    assert sum(len(b["meta"]) for b in batches) == 7            # replaced, not dropped
    skipped = [s for b in batches for s in b["skipped"]]
    assert len(skipped) == 1
    filename, reason = skipped[0]
    assert filename.endswith("broken.mp4") and reason
    replaced = [m for b in batches for m in b["meta"] if "replaces" in m]
    assert len(replaced) == 1 and replaced[0]["replaces"] == 6


@pytest.mark.parametrize("workers", [0, 2])
def test_raise_is_a_clean_data_error_in_the_main_process(bad_root, decoder_name, workers):
    r = recipe(bad_root, decoder_name, ann="bad.txt", workers=workers)
    with pytest.raises(DataError) as info:
        list(build_dataloader(r, "train", shuffle=False))
    msg = str(info.value)
    assert "broken.mp4" in msg and "bad.txt:7" in msg and "on_error" in msg
    assert "Traceback" not in msg


def test_skip_gives_up_when_everything_fails(tmp_path, decoder_name):
    for i in range(3):
        make_corrupt(tmp_path / "videos" / f"b{i}.mp4")
    (tmp_path / "ann.txt").write_text("b0.mp4 0\nb1.mp4 0\nb2.mp4 0\n")
    ds = build_dataset(recipe(tmp_path, decoder_name, on_error="skip"), "train")
    with pytest.raises(DataError, match="10 samples in a row failed"):
        ds[0]


def test_mixed_shapes_in_a_batch_are_explained(tmp_path, decoder_name):
    make_dataset(tmp_path, {"a.mp4": 0}, frames=12)
    make_video(tmp_path / "videos" / "wide.mp4", frames=12, size=(48, 96), pattern="index")
    (tmp_path / "ann.txt").write_text("a.mp4 0\nwide.mp4 0\n")
    r = recipe(tmp_path, decoder_name)
    r["data"]["train"]["pipeline"] = [{"type": "segment_sample", "clip_len": 2},
                                      {"type": "decode"}, {"type": "format_shape"},
                                      {"type": "pack"}]
    with pytest.raises(DataError, match="different shapes.*crop"):
        list(build_dataloader(r, "train"))


def test_shared_kinetics_tiny_batch(shared_dir, decoder_name):
    root = shared_dir / "data" / "kinetics2_tiny"
    r = {"seed": 0, "data": {"root": str(root), "decoder": decoder_name, "batch_size": 2, "val": {
        "type": "video_list", "ann_file": "kinetics_tiny_val_video.txt", "prefix": "val",
        "label_map": "label_map.txt", "pipeline": [
            {"type": "segment_sample", "clip_len": 4, "num_clips": 2, "test_mode": True},
            {"type": "decode"}, {"type": "resize", "size": 64},
            {"type": "center_crop", "crop_size": 56}, {"type": "format_shape"}, {"type": "pack"}]}}}
    batch = next(iter(build_dataloader(r, "val")))
    assert tuple(batch["inputs"].shape) == (2, 2, 3, 4, 56, 56)


def test_bench_pipeline_json(root, decoder_name, tmp_path, capsys):
    import json

    from zelda_core._cli.main import main

    recipe = tmp_path / "r.toml"
    recipe.write_text(f"""
[data]
root = "{root}"
decoder = "{decoder_name}"
[data.train]
type = "video_list"
ann_file = "ann.txt"
prefix = "videos"
pipeline = [{{ type = "segment_sample", clip_len = 4 }}, {{ type = "decode" }},
            {{ type = "resize", size = 32 }}, {{ type = "center_crop", crop_size = 32 }},
            {{ type = "format_shape" }}, {{ type = "pack" }}]
""")
    assert main(["bench", "pipeline", str(recipe), "--limit", "3", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["videos"] == 3 and r["videos_per_s"] > 0 and r["cpu_s_per_video"] >= 0
    assert set(r["transforms"]) == {"segment_sample", "decode+resize", "center_crop",
                                    "format_shape", "pack"}
    assert abs(sum(r["transforms"].values()) - 1) < 0.01
    assert r["shape"] == [1, 3, 4, 32, 32]


def test_plain_map_style_dataset_gets_int_indices():
    class Plain:
        classes = ["a"]

        def __len__(self):
            return 5

        def __getitem__(self, i):
            assert isinstance(i, int)
            return {"inputs": torch.full((1, 3, 1, 2, 2), i, dtype=torch.uint8), "label": 0,
                    "meta": {"index": i}}

    loader = build_dataloader({"seed": 1, "data": {"batch_size": 2}}, "train", Plain())
    batches = list(loader)
    assert len(batches) == len(loader) == 3
    assert sorted(m["index"] for b in batches for m in b["meta"]) == list(range(5))
    assert all(b["skipped"] == [] for b in batches)
