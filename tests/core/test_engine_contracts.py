"""The engine talks to models and metrics only through their contracts (zelda_core.api)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from plugin_factory import make_dist  # noqa: E402

from zelda_core import RecipeError  # noqa: E402
from zelda_core._engine.build import build_metrics, build_model, model_table  # noqa: E402
from zelda_core._engine.config import train_errors  # noqa: E402
from zelda_core._engine.device import place_model  # noqa: E402
from zelda_core._engine.evaluate import save_metric_files  # noqa: E402
from zelda_core._plugins import reset_plugin_manager  # noqa: E402
from zelda_core._recipe import Recipe  # noqa: E402
from zelda_core._schema import recipe_errors  # noqa: E402

PLUGIN = """
    import torch
    from zelda_core import hookimpl

    class Classifier(torch.nn.Module):
        def __init__(self, num_classes: int, width: int = 4):
            super().__init__()
            self.fc = torch.nn.Linear(width, num_classes)

    class Flat(torch.nn.Module):
        # a 2D-conv-like model: no enable_channels_last, so it must never be converted
        average_clips = "score"

        def __init__(self, classifier):
            super().__init__()
            self.classifier = classifier
            self.conv = torch.nn.Conv2d(3, 4, 1)

        @property
        def num_classes(self):
            return self.classifier.fc.out_features

        def loss(self, inputs, labels):
            return torch.zeros(())

        def predict(self, inputs):
            return torch.zeros(len(inputs), self.num_classes)

    class Saver:
        def __init__(self):
            self.seen = None
        def reset(self): pass
        def update(self, scores, labels): pass
        def compute(self): return {}
        def save(self, directory, classes):
            assert directory.is_dir(), directory
            path = directory / "out.txt"
            path.write_text(",".join(classes))
            return path

    @hookimpl
    def register_models(register):
        register("flat", Flat)
        register("classifier", Classifier)

    @hookimpl
    def register_metrics(register):
        register("saver", Saver)
"""


@pytest.fixture(autouse=True)
def toy_plugin(tmp_path, monkeypatch):
    make_dist(tmp_path / "site", "zelda-toyflat", "1.0", {"toyflat": PLUGIN})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    reset_plugin_manager()
    yield
    reset_plugin_manager()


def test_num_classes_filled_in_any_part_whose_factory_takes_it():
    data = {"model": {"type": "flat", "classifier": {"type": "classifier"}}}
    table = model_table(data, 7)
    assert table["classifier"]["num_classes"] == 7 and "num_classes" not in table  # flat takes none
    assert "num_classes" not in data["model"]["classifier"]  # the recipe itself is left alone
    assert build_model(table).num_classes == 7
    with pytest.raises(RecipeError, match="model.classifier.num_classes = 3 but the data has 7"):
        model_table({"model": {"type": "flat", "classifier": {"type": "classifier", "num_classes": 3}}}, 7)


def test_channels_last_only_for_models_that_offer_it():
    flat = build_model(model_table({"model": {"type": "flat", "classifier": {"type": "classifier"}}}, 2))
    place = place_model(flat, device="cpu", amp="none", channels_last=True)
    assert not place.channels_last and flat.conv.weight.is_contiguous()
    from engine_util import toy_model

    conv3d = toy_model()
    assert place_model(conv3d, device="cpu", amp="none", channels_last=True).channels_last
    assert conv3d.preprocessor.channels_last
    assert conv3d.backbone.conv1[0].weight.is_contiguous(memory_format=torch.channels_last_3d)


def test_metric_save_gets_an_existing_directory(tmp_path):
    metrics = build_metrics({"metrics": {"s": {"type": "saver"}}})
    (path,) = save_metric_files(metrics, tmp_path / "new" / "val", ["a", "b"])
    assert path.read_text() == "a,b"


def test_metrics_are_required_to_score_a_split():
    assert build_metrics({}) == {}
    with pytest.raises(RecipeError, match=r"\[data.val\] split but no \[metrics\]"):
        build_metrics({}, needed_for="val")


def test_train_and_data_tables_go_through_the_params_checker():
    errs = "\n".join(map(str, train_errors({"train": {"amp": "fp8", "sync_bn": 1, "epoch": 2,
                                                      "scale_lr": {"base": 8}}})))
    assert "train.amp" in errs and "expects 'auto' or 'bf16' or 'fp16' or 'none', got str 'fp8'" in errs
    assert "train.sync_bn" in errs and "expects bool" in errs
    assert "unknown parameter 'epoch'; did you mean 'epochs'?" in errs
    assert "train.scale_lr" in errs and "base_batch_size" in errs
    data = {"data": {"batch_size": True, "workers": -1, "pin_memory": "yes", "on_error": "ignore",
                     "batch_szie": 2, "val": {"ann_file": "x"}}}
    text = "\n".join(map(str, recipe_errors(Recipe(data=data))))
    assert "data.batch_size" in text and "expects int, got bool True" in text
    assert "data.workers" in text and "must be >= 0" in text
    assert "data.pin_memory" in text and "bool | 'auto'" in text
    assert "data.on_error" in text and "'raise' or 'skip'" in text
    assert "unknown parameter 'batch_szie'; did you mean 'batch_size'?" in text
    assert "[data.val] has no 'type'" in text
