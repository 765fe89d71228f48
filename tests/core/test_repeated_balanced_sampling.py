"""Repeated augmentation and class-balanced sampling: the epoch order, the ranks' shares,
and real DataLoaders over real videos (augmented clips, workers, resume)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from engine_util import make_dataset, small_recipe

from zelda_core._data.loader import build_dataloader
from zelda_core._data.sampler import EpochSampler
from zelda_core._errors import RecipeError
from zelda_core._recipe import load_recipe
from zelda_core._schema import validate_recipe

pytestmark = pytest.mark.decoder_independent

AUGMENTED = ('[{ type = "segment_sample", clip_len = 4 }, { type = "decode" }, '
             '{ type = "resize", size = 40 }, { type = "random_resized_crop" }, '
             '{ type = "resize", size = [32, 32] }, { type = "flip" }, '
             '{ type = "rand_augment", num_ops = 4, magnitude = 7, magnitude_std = 0.5 }, '
             '{ type = "random_erasing", p = 0.5, mode = "pixel" }, '
             '{ type = "format_shape" }, { type = "pack" }]')


def test_repeats_each_video_k_times_on_k_ranks():
    n, k, b, world = 10, 3, 2, 3
    ranks = [EpochSampler(n, seed=5, epoch=1, repeats=k, batch_size=b, world=world, rank=r)
             for r in range(world)]
    one = EpochSampler(n, seed=5, epoch=1, repeats=k, batch_size=b * world)
    order = one.keys(1)
    assert Counter(key[0] for key in order) == {i: k for i in range(n)}
    # every appearance has its own key (so its own augmentation); the first is the plain key
    assert len(set(order)) == n * k and sum(len(key) == 2 for key in order) == n
    steps = [r.batches(1) for r in ranks]
    assert len({len(s) for s in steps}) == 1 and len(steps[0]) == one.steps() == len(one.batches(1))
    for s, whole in enumerate(one.batches(1)):
        shares = [steps[r][s] for r in range(world)]
        # one-process parity: the ranks' shares of step s are step s at batch b * world
        assert sorted(x for share in shares for x in share) == sorted(whole)
        for share in shares:  # no rank holds two copies of one video (k <= world)
            assert len({key[0] for key in share}) == len(share)
    # DeiT's RASampler property: a video's copies go to different ranks
    where: dict[int, set[int]] = {}
    for r in range(world):
        for batch in steps[r]:
            for key in batch:
                where.setdefault(key[0], set()).add(r)
    assert all(len(v) == k for v in where.values())
    # resuming at a step yields exactly the rest of the epoch, on every rank
    for r in range(world):
        resumed = EpochSampler(n, seed=5, epoch=1, repeats=k, batch_size=b, world=world, rank=r,
                               start=4 * b * world)
        assert resumed.batches(1, resumed.start) == steps[r][4:]
        assert resumed.steps() == len(steps[r]) - 4


def test_class_balanced_draws_follow_the_weights():
    labels = [0] * 18 + [1] * 2  # 9:1 imbalance
    weights = [1 / 18 if lab == 0 else 1 / 2 for lab in labels]
    s = EpochSampler(20, seed=0, weights=weights, batch_size=4)
    drawn = [labels[key[0]] for e in range(50) for key in s.keys(e)]
    share = np.mean(drawn)
    assert 0.45 < share < 0.55  # inverse frequency: both classes alike
    assert s.keys(3) == s.keys(3) and s.keys(3) != s.keys(4)  # from (seed, epoch)
    assert s.keys(3, 8) == s.keys(3)[8:]  # resume: the same draws, from the position on


def _loader_recipe(tmp_path, extra_data: str = "", pipeline: str = AUGMENTED, n: int = 6):
    root = make_dataset(tmp_path / "data", n_train=n, n_val=2)
    text = small_recipe(tmp_path / "r.toml", root, tmp_path / "w").read_text()
    text = text.replace("workers = 0\n", f"workers = 0\n{extra_data}\n", 1)
    start = text.index("[data.train]")
    head, tail = text[:start], text[start:]
    p0 = tail.index("pipeline = ")
    p1 = tail.index("]\n\n", p0) + 1
    (tmp_path / "r.toml").write_text(head + tail[:p0] + f"pipeline = {pipeline}" + tail[p1:])
    return load_recipe(tmp_path / "r.toml")


def _epoch(recipe, **kw):
    loader = build_dataloader(recipe, "train", **kw)
    return [b for b in loader.batches(kw.get("epoch", 0), kw.pop("start_batch", 0))]


def test_repeated_copies_are_augmented_independently_in_real_loaders(tmp_path):
    recipe = _loader_recipe(tmp_path, "repeated_augmentation = 2")
    batches = _epoch(recipe)
    metas = [m for b in batches for m in b["meta"]]
    assert Counter(m["index"] for m in metas) == {i: 2 for i in range(6)}
    by_video: dict[int, list] = {}
    for b in batches:
        for x, m in zip(b["inputs"], b["meta"]):
            by_video.setdefault(m["index"], []).append((x, m))
    for (x1, m1), (x2, m2) in by_video.values():  # the two copies: different clips
        assert not torch.equal(x1, x2)
        assert m1["rand_augment"] != m2["rand_augment"] or m1["flip"] != m2["flip"] \
            or m1["random_erasing"] != m2["random_erasing"]
    # workers change nothing; a resume at batch 2 gives the rest exactly
    recipe.data["data"]["workers"] = 2
    with_workers = _epoch(recipe)
    assert all(torch.equal(a["inputs"], b["inputs"]) for a, b in zip(batches, with_workers))
    resumed = _epoch(recipe, start_batch=2)
    assert len(resumed) == len(batches) - 2
    assert all(torch.equal(a["inputs"], b["inputs"]) for a, b in zip(batches[2:], resumed))
    # two ranks at batch 1 see, step by step, what one process sees at batch 2
    recipe.data["data"]["workers"], recipe.data["data"]["batch_size"] = 0, 1
    r0, r1 = _epoch(recipe, world=2, rank=0), _epoch(recipe, world=2, rank=1)
    for one, a, b in zip(batches, r0, r1):
        assert a["meta"][0]["index"] == b["meta"][0]["index"]  # the two copies of a video ...
        assert torch.equal(torch.cat([a["inputs"], b["inputs"]]), one["inputs"])  # ... on 2 ranks
    # evaluation splits are never repeated
    assert len(build_dataloader(recipe, "val")) == 2


def test_class_balance_in_a_real_loader(tmp_path):
    recipe = _loader_recipe(tmp_path, 'class_balance = "inverse_frequency"', n=2)
    root = tmp_path / "data"
    (root / "imb").mkdir()  # 7 dark videos (label 0) and 1 bright (label 1)
    names = []
    for i in range(8):
        src = root / "train" / ("train1.mp4" if i == 7 else "train0.mp4")
        (root / "imb" / f"v{i}.mp4").write_bytes(src.read_bytes())
        names.append(f"v{i}.mp4 {1 if i == 7 else 0}")
    (root / "imb.txt").write_text("\n".join(names) + "\n")
    recipe.data["data"]["train"]["ann_file"], recipe.data["data"]["train"]["prefix"] = "imb.txt", "imb"
    seen = Counter()
    for epoch in range(6):
        for b in _epoch(recipe, epoch=epoch):
            seen.update(int(x) for x in b["label"])
    assert 0.3 < seen[1] / sum(seen.values()) < 0.7  # 1 in 8 listed, about half drawn
    recipe.data["data"]["class_balance"] = {"bright": 0.0}
    assert all(int(x) == 0 for b in _epoch(recipe) for x in b["label"])
    recipe.data["data"]["class_balance"] = [0.0, 1.0]
    assert all(int(x) == 1 for b in _epoch(recipe) for x in b["label"])
    for bad, words in [([1.0], "gives 1 weights"), ({"brigth": 2.0}, "'brigth'"),
                       ([0.0, 0.0], "not 0 for every")]:
        recipe.data["data"]["class_balance"] = bad
        with pytest.raises(RecipeError, match=words) as info:
            build_dataloader(recipe, "train")
        assert info.value.key == "data.class_balance"


@pytest.mark.parametrize("key, value, words", [
    ("repeated_augmentation", 0, "in \\[1, 64\\]"),
    ("repeated_augmentation", "2", "repeated_augmentation"),
    ("class_balance", "inverse", "class_balance"),
    ("class_balance", [1.0, -1.0], ">= 0"),
])
def test_recipe_check_refuses_bad_sampling_keys(tmp_path, key, value, words):
    recipe = _loader_recipe(tmp_path, pipeline=AUGMENTED)
    recipe.data["data"][key] = value
    with pytest.raises(RecipeError, match=words):
        validate_recipe(recipe)
