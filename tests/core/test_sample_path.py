"""One sample path: the decoder table is checked once per dataset, never per video; the
pipeline is the one place that closes a reader; fusion is a transform's declared ``fuse``."""

from __future__ import annotations

import pickle
import typing

import pytest
from media import make_video
from pipeline_helpers import make_dataset

import zelda_core._registry as registry
from zelda_core._data import build_dataloader
from zelda_core._data.rng import sample_rng
from zelda_core._errors import DataError, RecipeError
from zelda_core._pipeline import Pipeline
from zelda_core.api import VideoOpener

PIPE = [{"type": "segment_sample", "clip_len": 4}, {"type": "decode"},
        {"type": "resize", "size": [16, 16]}, {"type": "format_shape"}, {"type": "pack"}]
VIDEOS = 6


@pytest.fixture
def checks(monkeypatch):
    """Counts of signature checks (``check_params``) and ``typing.get_type_hints`` calls."""
    counts = {"check_params": 0, "get_type_hints": 0}

    def counting(name, real):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(registry, "check_params", counting("check_params", registry.check_params))
    monkeypatch.setattr(typing, "get_type_hints", counting("get_type_hints", typing.get_type_hints))
    return counts


def test_training_loader_checks_no_signature_per_video(tmp_path, decoder_name, checks):
    make_dataset(tmp_path, {f"v{i}.mp4": i % 2 for i in range(VIDEOS)}, frames=12)
    recipe = {"seed": 1, "data": {"root": str(tmp_path), "decoder": decoder_name, "batch_size": 2,
                                  "workers": 0, "train": {"type": "video_list", "ann_file": "ann.txt",
                                                          "prefix": "videos", "pipeline": PIPE}}}
    loader = build_dataloader(recipe, "train")
    assert checks["check_params"] >= 1 + len(PIPE) + 1  # the dataset, its transforms, the decoder
    at_build = dict(checks)
    seen = 0
    for epoch in range(2):
        loader = build_dataloader(recipe, "train", dataset=loader.dataset, epoch=epoch)
        seen += sum(len(b["meta"]) for b in loader)
    assert seen == 2 * VIDEOS
    assert checks == at_build  # 12 videos opened and decoded, not one check


def test_a_pickled_opener_opens_without_checking(tmp_path, decoder_name, checks):
    video = make_video(tmp_path / "a.mp4", frames=5)
    opener = VideoOpener({"type": decoder_name})
    assert checks["check_params"] == 1
    again = pickle.loads(pickle.dumps(opener))  # as a spawned DataLoader worker gets it
    for _ in range(3):
        with again(str(video)) as reader:
            assert reader.num_frames == 5
    assert checks["check_params"] == 1 and again.spec == opener.spec


def test_a_bad_decoder_table_fails_when_the_opener_is_built(checks):
    with pytest.raises(RecipeError, match="unknown decoder type 'pyavv'") as info:
        VideoOpener("pyavv", key="data.decoder")
    assert info.value.key == "data.decoder"
    with pytest.raises(RecipeError, match="no_such_option"):
        VideoOpener({"type": "pyav", "no_such_option": 1}, key="data.decoder")
    assert checks["check_params"] == 1  # the known decoder's table was checked, once


class CountingOpener:
    """Wraps an opener; records how often each reader it opened was closed."""

    def __init__(self, opener):
        self.opener, self.closes = opener, []

    def __call__(self, path):
        reader = self.opener(path)
        i, close = len(self.closes), reader.close
        self.closes.append(0)

        def counted():
            self.closes[i] += 1
            close()
        reader.close = counted
        return reader


def boom(sample):
    raise ZeroDivisionError("a step failed after the video was opened")


def replace_dict(sample):
    return {k: v for k, v in sample.items() if k != "reader"}  # drops the reader it was given


@pytest.mark.parametrize("steps, error", [
    (PIPE, None),                                                    # decode, then pack
    ([{"type": "init"}, {"type": "segment_sample", "clip_len": 2}], None),  # never decoded
    ([{"type": "segment_sample", "clip_len": 2}, {"type": "decode"},
      {"type": "center_crop", "crop_size": 99}], DataError),          # fails after decode
    ([{"type": "init"}, boom], ZeroDivisionError),                  # fails between open and decode
    ([{"type": "init"}, replace_dict], None),                       # a step returns a new dict
])
def test_the_pipeline_closes_every_reader_exactly_once(tmp_path, decoder_name, steps, error):
    video = make_video(tmp_path / "a.mp4", frames=10)
    built = [registry.build("transforms", s) if isinstance(s, dict) else s for s in steps]
    opener = CountingOpener(VideoOpener(decoder_name))
    sample = {"filename": str(video), "label": 0, "rng": sample_rng(0, 0, 0), "opener": opener}
    if error is None:
        out = Pipeline(built)(sample)
        assert out.get("reader") is None
    else:
        with pytest.raises(error):
            Pipeline(built)(sample)
    assert opener.closes == [1]


class Widen:
    """A third-party step that can absorb the step after it when that step is a Shift."""

    def __call__(self, sample):
        sample["x"] = sample["x"] * 2
        return sample

    def fuse(self, step):
        if not isinstance(step, Shift):
            return None
        return lambda sample: {**sample, "x": sample["x"] * 2 + step.by}


class Shift:
    def __init__(self, by):
        self.by = by

    def __call__(self, sample):
        sample["x"] += self.by
        return sample


class LooksLikeAResize(Shift):
    """Has the attributes the pipeline once sniffed for; declares nothing."""

    fusable = True

    def target_size(self, h, w):
        return h, w

    def fuse_resize(self, step):
        raise AssertionError("the pipeline must not sniff for fuse_resize")


def test_fusion_is_the_declared_fuse_capability():
    p = Pipeline([Widen(), Shift(3)], ["widen", "shift"])
    assert p.names == ["widen+shift"] and p({"x": 1}) == {"x": 5}
    assert Pipeline([Widen(), Shift(3)], ["widen", "shift"], fuse=False).names == ["widen", "shift"]
    assert Pipeline([Shift(1), Widen()], ["shift", "widen"]).names == ["shift", "widen"]
    odd = Pipeline([LooksLikeAResize(1), LooksLikeAResize(2)], ["a", "b"])
    assert odd.names == ["a", "b"] and odd({"x": 0}) == {"x": 3}
