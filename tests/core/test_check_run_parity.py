"""``zelda recipe check`` rejects everything ``zelda run`` would: for each bad recipe, check
exits 1 with one line naming the key, and run refuses it too, without a traceback. "check"
means built: transforms, metrics, the model, its optimizer and scheduler, and each split's
pipeline as a whole (what each step needs is there; it ends with what the model takes)."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("torch")

from engine_util import make_dataset, small_recipe  # noqa: E402
from plugin_factory import make_dist  # noqa: E402

from zelda_core._cli.main import main  # noqa: E402
from zelda_core._plugins import reset_plugin_manager  # noqa: E402

RAISES = """
    from zelda_core import hookimpl

    def model_raises(num_classes: int = 2):
        raise RuntimeError("weights server unreachable")

    def metric_raises():
        raise KeyError("no such table")

    @hookimpl
    def register_models(register):
        register("model_raises", model_raises)

    @hookimpl
    def register_metrics(register):
        register("metric_raises", metric_raises)
"""

STEP = {"sample": '{type="segment_sample", clip_len=4}', "decode": '{type="decode"}',
        "resize": '{type="resize", size=40}', "crop": '{type="center_crop", crop_size=32}',
        "format": '{type="format_shape"}', "pack": '{type="pack"}'}


def pipeline(*drop: str) -> str:
    return "[" + ", ".join(v for k, v in STEP.items() if k not in drop) + "]"


CASES = [
    ("work_dir=5", "work_dir", "expects a folder path"),
    (f"data.train.pipeline={pipeline('pack')}", "data.train.pipeline", "ends without 'inputs'"),
    (f"data.val.pipeline={pipeline('pack')}", "data.val.pipeline", "ends without 'inputs'"),
    (f"data.train.pipeline={pipeline('decode')}", "data.train.pipeline[1]", "needs 'imgs'"),
    (f"data.train.pipeline={pipeline('format')}", "data.train.pipeline[4]", "needs 'input_shape'"),
    (f"data.train.pipeline={pipeline('sample')}", "data.train.pipeline[0]", "needs 'frame_inds'"),
    ('train.optimizer.lr="x"', "train.optimizer.lr", "expects a finite number >= 0, got str 'x'"),
    ("train.optimizer.lr=nan", "train.optimizer.lr", "got float nan"),
    ("train.optimizer.lr=-1", "train.optimizer.lr", "got int -1"),
    ('train.scheduler={type="StepLR"}', "train.scheduler", "missing 1 required positional argument: 'step_size'"),
    ('train.optimizer={type="SGD", lr=0.1, momentum=-1}', "train.optimizer", "Invalid momentum value"),
    ('train.finetune={freeze=["nothing_matches.*"]}', "train.finetune.freeze", "nothing_matches"),
    ("train.gradient_checkpointing=true", "train.gradient_checkpointing", "has no enable_gradient_checkpointing()"),
    ("train.finetune={layer_decay=1.5}", "train.finetune.layer_decay", "expects a factor in (0, 1]"),
    ("train.ema={decay=1.0}", "train.ema.decay", "expects a number in (0, 1)"),
    ('model={type="model_raises"}', "model", "weights server unreachable"),
    ('metrics.bad={type="metric_raises"}', "metrics.bad", "no such table"),
]


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("parity")
    return small_recipe(tmp / "r.toml", make_dataset(tmp / "data", n_train=2, n_val=1), tmp / "work",
                        epochs=1)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    site = make_dist(tmp_path / "site", "zelda-raises", "0.1", {"raises": RAISES})
    monkeypatch.syspath_prepend(str(site))
    reset_plugin_manager()
    yield
    reset_plugin_manager()
    sys.modules.pop("zelda_raises_raises", None)


def refused(capsys, *args: str) -> str:
    capsys.readouterr()
    assert main(list(args)) == 1, args
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return err


@pytest.mark.parametrize(("override", "key", "message"), CASES, ids=[c[1] + ":" + c[2][:24] for c in CASES])
def test_check_rejects_what_run_rejects(recipe, plugin, capsys, override, key, message):
    err = refused(capsys, "recipe", "check", str(recipe), "--set", override)
    assert len(err.strip().splitlines()) == 1, err
    assert f"key '{key}'" in err and message in err, err
    err = refused(capsys, "run", str(recipe), "--set", override)
    assert message in err or f"key '{key}'" in err, err


def test_a_recipe_with_only_data(recipe, plugin, capsys, tmp_path):
    text = recipe.read_text()
    only = tmp_path / "only.toml"
    only.write_text(text[:text.index("[model]")].replace("work_dir", "# work_dir"))
    err = refused(capsys, "recipe", "check", str(only))
    assert len(err.strip().splitlines()) == 1 and "key 'model'" in err, err
    err = refused(capsys, "run", str(only))
    assert "model" in err, err


UNDECLARED = """
    from zelda_core import hookimpl

    class Keep:  # declares no needs/adds: the check cannot know what it gives
        def __call__(self, sample):
            return sample

    @hookimpl
    def register_transforms(register):
        register("keep", Keep)
"""


@pytest.mark.parametrize("command", [["run"], ["bench", "train", "--batches", "2"]])
def test_a_pipeline_the_check_cannot_judge_still_never_trains_on_nothing(recipe, tmp_path, monkeypatch,
                                                                         capsys, command):
    """An undeclared third-party step instead of pack: recipe check cannot know (no false
    alarm), but run and bench train stop at the first batch, in one line, never "loss 0"."""
    site = make_dist(tmp_path / "site", "zelda-keep", "0.1", {"keep": UNDECLARED})
    monkeypatch.syspath_prepend(str(site))
    reset_plugin_manager()
    try:
        override = "data.train.pipeline=" + pipeline("pack")[:-1] + ', {type="keep"}]'
        capsys.readouterr()
        assert main(["recipe", "check", str(recipe), "--set", override]) == 0
        err = refused(capsys, *command, str(recipe), "--set", override)
        assert "without 'inputs'" in err and "end the split's pipeline with format_shape and pack" in err, err
        assert len(err.strip().splitlines()) == 1, err
    finally:
        reset_plugin_manager()
        sys.modules.pop("zelda_keep_keep", None)


def test_an_epoch_without_a_sample_is_an_error(tmp_path):
    """Batches that hold no sample (whatever made them) never count as a trained epoch."""
    from engine_util import quick_config, toy_model

    from zelda_core._engine.assemble import build_training
    from zelda_core._engine.errors import TrainingError
    from zelda_core._engine.loop import Trainer

    def empty(epoch, start_batch=0):
        return [{"meta": [], "skipped": []} for _ in range(3)][start_batch:]

    trainer = Trainer(build_training(toy_model(), config=quick_config(epochs=1), train_batches=empty,
                                     steps_per_epoch=3, work_dir=tmp_path / "w"))
    with pytest.raises(TrainingError, match="epoch 1 trained on no sample: its 3 batch"):
        trainer.fit()
    assert not (tmp_path / "w" / "checkpoints" / "best.pth").exists()
