"""A plugin that breaks its contract is named (plugin, distribution, clause) in one line,
exit 1: never a traceback from deep in the engine, never a good video skipped as
unreadable. Deliberately broken components from a real installed distribution, driven
through the ``zelda`` CLI on real videos."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from engine_util import make_dataset, small_recipe  # noqa: E402
from plugin_factory import make_dist  # noqa: E402

from zelda_core._cli.main import main  # noqa: E402
from zelda_core._plugins import reset_plugin_manager  # noqa: E402

BROKEN = """
    import math
    import torch
    from zelda_core import hookimpl

    class Toy(torch.nn.Module):
        average_clips = "score"

        def __init__(self, num_classes: int = 2):
            super().__init__()
            self.num_classes = num_classes
            self.fc = torch.nn.Linear(3, num_classes)

        def scores(self, inputs):  # (B, V, C, T, H, W) uint8 -> one row per view
            x = inputs.flatten(0, 1).float().mean(dim=(2, 3, 4)) / 255
            return self.fc(x)

        def loss(self, inputs, labels):
            views = inputs.shape[1]
            return torch.nn.functional.cross_entropy(self.scores(inputs), labels.repeat_interleave(views))

        def predict(self, inputs):
            return self.scores(inputs).view(inputs.shape[0], inputs.shape[1], -1).mean(1)

    class LossVector(Toy):
        def loss(self, inputs, labels):
            return torch.nn.functional.cross_entropy(self.scores(inputs), labels, reduction="none")

    class LossNan(Toy):
        def loss(self, inputs, labels):
            return super().loss(inputs, labels) * math.nan

    class PredictViews(Toy):
        def predict(self, inputs):
            return self.scores(inputs)  # one row per view: not averaged

    def factory_raises(num_classes: int = 2):
        raise RuntimeError("weights server unreachable")

    class Metric:
        def reset(self): pass
        def update(self, scores, labels): pass
        def compute(self): return {"m": 1.0}

    class SaveNone(Metric):
        def save(self, directory, classes):
            (directory / "x.txt").write_text("x")

    class SaveOutside(Metric):
        def save(self, directory, classes):
            out = directory.parent.parent / "elsewhere.txt"
            out.write_text("x")
            return out

    class ComputeList(Metric):
        def compute(self): return [0.5]

    class ShiftInds:
        def __call__(self, sample):
            sample["frame_inds"] = sample["frame_inds"] + sample["total_frames"]
            return sample

    @hookimpl
    def register_models(register):
        register("toy", Toy)
        register("loss_vector", LossVector)
        register("loss_nan", LossNan)
        register("predict_views", PredictViews)
        register("factory_raises", factory_raises)

    @hookimpl
    def register_metrics(register):
        register("save_none", SaveNone)
        register("save_outside", SaveOutside)
        register("compute_list", ComputeList)

    @hookimpl
    def register_transforms(register):
        register("shift_inds", ShiftInds)
"""
WHO = "of plugin 'broken' (zelda-broken 0.2) breaks its contract"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return make_dist(tmp_path_factory.mktemp("site"), "zelda-broken", "0.2", {"broken": BROKEN})


@pytest.fixture
def plugin(site, monkeypatch):
    monkeypatch.syspath_prepend(str(site))
    reset_plugin_manager()
    yield site
    reset_plugin_manager()
    sys.modules.pop("zelda_broken_broken", None)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("data"), n_train=3, n_val=2)


def recipe(tmp_path, data, model="toy", metric=None, transform=None):
    path = small_recipe(tmp_path / "r.toml", data, tmp_path / "work", epochs=1)
    text = path.read_text()
    head, _, rest = text.partition("[model]")
    rest = rest[rest.index("[train]"):]
    text = f'{head}[model]\ntype = "{model}"\n\n{rest}'
    if metric:
        text += f'\n[metrics.extra]\ntype = "{metric}"\n'
    if transform:
        text = text.replace('{ type = "decode" }', f'{{ type = "{transform}" }},\n    {{ type = "decode" }}', 1)
        text = text.replace("workers = 0", 'workers = 0\non_error = "skip"')
    path.write_text(text)
    return path


def run_cli(capsys, *args):
    capsys.readouterr()
    code = main([*args])
    return code, capsys.readouterr().err


CASES = {
    "loss_not_scalar": (dict(model="loss_vector"), "model 'loss_vector'",
                        "loss(inputs, labels) returns a finite scalar tensor): it returned Tensor of shape (2,)"),
    "loss_nan_first_step": (dict(model="loss_nan"), "model 'loss_nan'", "returned nan on the first step"),
    "predict_views": (dict(model="predict_views"), "model 'predict_views'",
                      "predict(inputs) returns (B, K) scores, views averaged): for 2 videos of 2 views each "
                      "it returned Tensor of shape (4, 2)"),
    "save_returns_none": (dict(metric="save_none"), "metric 'save_none'",
                          "save(directory, classes) returns the path of a file it wrote inside "
                          "directory): it returned NoneType None"),
    "save_outside": (dict(metric="save_outside"), "metric 'save_outside'", "elsewhere.txt', which is outside"),
    "compute_not_a_dict": (dict(metric="compute_list"), "metric 'compute_list'",
                           "compute() returns {str: float}): it returned list [0.5]"),
    "indices_out_of_range": (dict(transform="shift_inds"), "transform 'shift_inds'",
                             "frame_inds stay in [0, total_frames)): step 'shift_inds' gave index"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_broken_component_is_named_in_one_line(tmp_path, data, plugin, capsys, case):
    kwargs, component, clause = CASES[case]
    path = recipe(tmp_path, data, **kwargs)
    code, err = run_cli(capsys, "run", str(path))
    assert code == 1, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert f"the {component} {WHO} (" in err and clause in err, err
    assert "--disable-plugin broken" in err
    if case == "indices_out_of_range":  # the good videos are never blamed
        log = (tmp_path / "work" / "train.log").read_text()
        assert "skipped" not in log and "could not be read" not in log, log



def test_predict_names_a_predict_that_does_not_average_views(tmp_path, data, plugin, capsys):
    """zelda predict receives predict()'s scores too: the same check, the same one line."""
    path = recipe(tmp_path, data, model="predict_views")
    # a test split instead of val: the epoch trains and is saved; the final test then fails
    path.write_text(path.read_text().replace("[data.val]", "[data.test]"))
    main(["run", str(path)])
    video = next((data / "val").iterdir())
    code, err = run_cli(capsys, "predict", str(tmp_path / "work" / "checkpoints" / "last.pth"), str(video))
    assert code == 1, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert f"the model 'predict_views' {WHO} (predict(inputs) returns (B, K) scores" in err, err

def test_the_original_exception_is_chained(tmp_path, data, plugin):
    """--debug shows what the plugin really raised (the contract error chains it)."""
    from zelda_core import PluginError

    path = recipe(tmp_path, data, model="factory_raises")
    with pytest.raises(PluginError) as info:
        main(["--debug", "run", str(path)])
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "weights server unreachable" in str(info.value.__cause__)


def test_bench_train_names_a_non_scalar_loss(tmp_path, data, site):
    """bench train is a separate loop: same check, same line (a real subprocess)."""
    path = recipe(tmp_path, data, model="loss_vector")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "zelda_core", "bench", "train", str(path), "--batches", "1"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"the model 'loss_vector' {WHO} (loss(inputs, labels)" in proc.stderr
