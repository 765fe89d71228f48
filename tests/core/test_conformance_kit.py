"""The conformance kit (zelda_testing) passes the bundled components and catches broken
ones: each contract clause it checks fails on a component that breaks it."""

from __future__ import annotations

import numpy as np
import pytest

from zelda_core.api import DecodeError, VideoReader
from zelda_testing import (
    ConformanceError,
    check_decoder,
    check_metric,
    check_model,
    check_transform,
    frame_ids,
    make_video,
)

TINY_MODEL = {"type": "recognizer", "preprocessor": {"type": "normalize"},
              "backbone": {"type": "conv3d_tiny", "channels": [4, 8]},
              "head": {"type": "cls_head", "num_classes": 3, "dropout": 0.0}}


def test_media_frames_name_their_index(tmp_path):
    import av

    path = make_video(tmp_path / "v.mp4", 40)
    with av.open(str(path)) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    assert frame_ids(frames) == list(range(40))


def test_bundled_decoder_conforms(tmp_path, decoder_name):
    passed = check_decoder(decoder_name, tmp_path)
    assert len(passed) == 14


@pytest.mark.parametrize("name,params", [
    ("flip", {"flip_ratio": 0.5}), ("random_resized_crop", {}), ("center_crop", {"crop_size": 16}),
    ("format_shape", {}), ("multi_scale_crop", {"input_size": 16, "random_crop": True}),
])
def test_bundled_transforms_conform(name, params):
    check_transform(name, params=params)


@pytest.mark.parametrize("name", ["top_k_accuracy", "mean_class_accuracy", "confusion_matrix"])
def test_bundled_metrics_conform(name):
    check_metric(name)


def test_bundled_model_conforms():
    from zelda_core import build

    model = build("models", TINY_MODEL)
    check_model(model, num_classes=3)


# -- the kit catches what it claims to ------------------------------------------------

class ListReader(VideoReader):
    """A decoder on the base class: decodes the whole file with PyAV once."""

    def __init__(self, path: str, *, mistake: str = ""):
        import av

        self.path, self.mistake = str(path), mistake
        try:
            with av.open(self.path) as c:
                self.fps = float(c.streams.video[0].average_rate)
                self._frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        except (av.FFmpegError, OSError) as exc:
            raise DecodeError(self.path, str(exc)) from exc
        self.num_frames = len(self._frames) + (1 if mistake == "count" else 0)
        self.height, self.width = self._frames[0].shape[:2]
        if mistake != "rotation":  # the matrix from the shared decoder library
            from zelda_decoding.index import read_display_matrix

            self.display_matrix = read_display_matrix(self.path, 0)

    def _decode_frames(self, indices, height, width):
        import av

        out = []
        for i in indices:
            if self.mistake == "order":
                i = (i + 1) % len(self._frames)
            img = av.VideoFrame.from_ndarray(self._frames[min(i, len(self._frames) - 1)],
                                             format="rgb24")
            out.append(img.reformat(width=width, height=height, format="rgb24").to_ndarray())
        return np.stack(out)


def test_a_decoder_on_the_base_class_conforms(tmp_path):
    check_decoder(ListReader, tmp_path)


@pytest.mark.parametrize("mistake,clause", [
    ("count", "metadata"), ("order", "display order"), ("rotation", "rotated video"),
])
def test_decoder_mistakes_are_caught(tmp_path, mistake, clause):
    with pytest.raises(ConformanceError) as err:
        check_decoder(ListReader, tmp_path, mistake=mistake)
    assert any(clause in f for f in err.value.failures), err.value.failures


def test_base_class_gives_the_contract(tmp_path):
    reader = ListReader(make_video(tmp_path / "v.mp4", 20))
    assert frame_ids(reader.get_frames([3, 1, 3])) == [3, 1, 3]
    with pytest.raises(IndexError, match="frame index 20 out of range"):
        reader.get_frames([20])
    reader.close()
    assert reader.closed
    with pytest.raises(DecodeError, match="reader is closed"):
        reader.get_frames([0])


def test_transform_mistakes_are_caught():
    def forgets(sample):
        sample["x"] = 1

    def global_rng(sample):
        sample["flip"] = bool(np.random.rand() < 0.5)
        return sample

    def fresh_rng(sample):
        sample["flip"] = bool(np.random.default_rng().random() < 0.5)
        return sample

    with pytest.raises(ConformanceError, match="returned NoneType"):
        check_transform(forgets)
    with pytest.raises(ConformanceError, match="used the global RNG"):
        check_transform(global_rng)
    def beyond_the_video(sample):
        sample["frame_inds"] = np.asarray(sample["frame_inds"]) + sample["total_frames"]
        return sample

    with pytest.raises(ConformanceError, match=r"keeps frame_inds in \[0, total_frames\)"):
        check_transform(beyond_the_video)

    def raises(sample):
        raise KeyError("imgs_missing_here")

    with pytest.raises(ConformanceError) as err:  # the failure carries where it broke
        check_transform(raises)
    assert isinstance(err.value.__cause__, KeyError) and err.value.causes
    assert 'raise KeyError("imgs_missing_here")' in err.value.failures[0]
    with pytest.raises(ConformanceError, match="uses only sample"):
        for _ in range(5):  # an unseeded generator differs between runs (1 in 2 per run)
            check_transform(fresh_rng)


def test_metric_mistakes_are_caught():
    class CountsTwice:
        def __init__(self):
            self.n = 0

        def reset(self):
            pass  # forgets nothing

        def update(self, scores, labels):
            self.n += len(labels)

        def compute(self):
            return {"n": float(self.n)}

    with pytest.raises(ConformanceError) as err:
        check_metric(CountsTwice)
    assert any("reset() forgets" in f for f in err.value.failures)

    class NamesNothingYet(CountsTwice):  # its values appear only once it has seen videos
        def reset(self):
            self.n = 0

        def compute(self):
            return {"n": float(self.n)} if self.n else {}

    with pytest.raises(ConformanceError) as err:
        check_metric(NamesNothingYet)
    assert any("names the same values before any update" in f and "gives [], after one ['n']" in f
               for f in err.value.failures), err.value.failures

    class SavesBadly(CountsTwice):
        def reset(self):
            self.n = 0

        def save(self, directory, classes):
            (directory / "x.txt").write_text("x")
            return self.where(directory)

    for where, message in ((lambda d: None, "returned NoneType"),
                           (lambda d: d / "y.txt", "which is not a file it wrote"),
                           (lambda d: (d.parent / "o.txt").write_text("x") and d.parent / "o.txt", "which is outside")):
        SavesBadly.where = staticmethod(where)
        with pytest.raises(ConformanceError) as err:
            check_metric(SavesBadly)
        assert any("returns an existing file inside the directory" in f and message in f
                   for f in err.value.failures), err.value.failures


def test_model_mistakes_are_caught():
    from zelda_core import build

    model = build("models", TINY_MODEL)
    with pytest.raises(ConformanceError, match="num_classes .* expected 5"):
        check_model(model, num_classes=5)
