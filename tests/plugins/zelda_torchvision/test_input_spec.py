"""A model factory's declared input (``InputSpec``): recipe defaults, ``recipe show``, and
``recipe check`` errors for contradicting values. A toy plugin declares it (no torchvision);
also: without torchvision, naming a torchvision model says how to install it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from plugin_factory import make_dist

from zelda_core._cli.main import main
from zelda_core._plugins import reset_plugin_manager

PLUGIN = """
import torch
from zelda_core.api import InputSpec, hookimpl


def spec(params):
    fixed = params.get("weights") == "fixed"
    return InputSpec(source=f"toy weights {params.get('weights')}", mean=(100.0, 110.0, 120.0),
                     std=(50.0, 51.0, 52.0), resize=(64, 80), crop=56, frames=6, fixed_size=fixed)


class Toy(torch.nn.Module):
    average_clips = "score"

    def __init__(self, num_classes):
        super().__init__()
        self.num_classes = num_classes
        self.fc = torch.nn.Linear(3, num_classes)

    def loss(self, inputs, labels):
        return self.fc(inputs.float().mean(dim=(1, 3, 4, 5))).sum()

    def predict(self, inputs):
        return self.fc(inputs.float().mean(dim=(1, 3, 4, 5)))


def toy(num_classes: int | None = None, weights: str | None = None,
        mean: list[float] | None = None, std: list[float] | None = None):
    assert weights is None, "recipe check builds the model offline (check_params)"
    return Toy(num_classes)  # recipe check builds it ("check" means built), on the meta device


toy.check_params = lambda params: {**params, "weights": None}


toy.input_spec = spec


@hookimpl
def register_models(register):
    register("toy_spec", toy)
"""

RECIPE = """
[data.train]
type = "video_list"
ann_file = "a.txt"
pipeline = [
    {{ type = "segment_sample" }},
    {{ type = "decode" }},
    {{ type = "resize" }},
    {{ type = "random_crop" }},
    {{ type = "format_shape" }},
    {{ type = "pack" }},
]
[data.val]
type = "video_list"
ann_file = "b.txt"
pipeline = [
    {{ type = "segment_sample", clip_len = 8, test_mode = true }},
    {{ type = "decode" }},
    {{ type = "resize", scale = [-1, 70] }},
    {{ type = "center_crop", crop_size = 48 }},
    {{ type = "format_shape" }},
    {{ type = "pack" }},
]
[model]
type = "toy_spec"
weights = "{weights}"
{extra}
"""


@pytest.fixture(autouse=True)
def toy_plugin(tmp_path, monkeypatch):
    make_dist(tmp_path / "site", "zelda-toyspec", "1.0", {"toyspec": PLUGIN})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    reset_plugin_manager()
    yield
    reset_plugin_manager()


def _recipe(tmp_path: Path, weights: str = "free", extra: str = "") -> Path:
    path = tmp_path / "r.toml"
    path.write_text(RECIPE.format(weights=weights, extra=extra))
    return path


def test_defaults_fill_what_the_recipe_leaves_out(tmp_path, capsys):
    from zelda_core._recipe import load_recipe

    recipe = load_recipe(_recipe(tmp_path))
    train, val = (recipe.data["data"][s]["pipeline"] for s in ("train", "val"))
    assert recipe.data["model"]["mean"] == [100.0, 110.0, 120.0]
    assert recipe.data["model"]["std"] == [50.0, 51.0, 52.0]
    assert train[0]["clip_len"] == 6 and train[2]["size"] == [64, 80] and train[3]["size"] == 56
    # what the recipe says stays: clip_len 8, MMAction2 scale (no size added), crop 48
    assert val[0]["clip_len"] == 8 and "size" not in val[2] and val[3]["crop_size"] == 48
    assert "data.train.pipeline[3].size = 56  (from toy weights free)" in recipe.derived
    assert main(["recipe", "check", str(_recipe(tmp_path))]) == 0
    assert main(["recipe", "show", str(_recipe(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "# default: data.train.pipeline[0].clip_len = 6  (from toy weights free)" in out
    assert "clip_len = 6" in out.split("[data.train]")[1]


def test_contradictions_are_recipe_errors(tmp_path, capsys):
    path = _recipe(tmp_path, "fixed", "mean = [0.4, 0.45, 0.47]")
    assert main(["recipe", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "key 'model.mean': mean = [0.4, 0.45, 0.47] is on the 0-1 scale" in err
    assert "key 'data.val.pipeline[0].clip_len': clip_len = 8, but the model" in err
    assert "key 'data.val.pipeline[3].crop_size': crop_size = 48" in err
    assert "train.pipeline" not in err  # filled values agree with the model


def test_a_differing_mean_is_a_warning(tmp_path, capsys):
    path = _recipe(tmp_path, "free", "mean = [123.675, 116.28, 103.53]")
    assert main(["recipe", "check", str(path)]) == 0
    assert "# warning: model.mean = [123.675, 116.28, 103.53] differs from [100.0, 110.0, 120.0]" \
        in capsys.readouterr().out


def test_without_torchvision_the_error_says_how_to_install(tmp_path):
    """torchvision blocked from import: recipe check names the pip command, one paragraph."""
    recipe = tmp_path / "tv.toml"
    recipe.write_text('[model]\ntype = "r2plus1d_18"\nweights = "KINETICS400_V1"\n')
    code = ("import sys; sys.modules['torchvision'] = None; "
            "from zelda_core._cli.main import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, "recipe", "check", str(recipe)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ZELDA_STRICT_PLUGINS": "1"})
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "need torchvision" in proc.stderr and "pip install 'zelda-video[torchvision]'" in proc.stderr


def _check_torchvision_recipe(tmp_path, code_prefix, env=None):
    (tmp_path / "data").mkdir(exist_ok=True)
    recipe = Path(__file__).parents[3] / "recipes" / "r2plus1d_kinetics_tiny.toml"
    code = (code_prefix + "from zelda_core._cli.main import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, "recipe", "check", str(recipe)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, **(env or {})})


def test_the_missing_extra_is_the_first_of_the_problems(tmp_path):
    """Without torchvision the recipe's other problems (defaults the weights would give)
    follow from the missing extra: it is listed first."""
    proc = _check_torchvision_recipe(tmp_path, "import sys; sys.modules['torchvision'] = None; ")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    first = next(line for line in proc.stderr.splitlines() if line.startswith("- "))
    assert "key 'model'" in first and "need torchvision" in first, proc.stderr


def test_a_torchvision_that_raises_at_import_is_named_not_a_traceback(tmp_path):
    """A broken install (torchvision raising RuntimeError at import): recipe check says so
    in one problem line, first; plugins --check calls the models unusable, not usable."""
    fake = tmp_path / "fake" / "torchvision"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise RuntimeError("operator torchvision::nms does not exist")\n')
    env = {"PYTHONPATH": os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")])}
    proc = _check_torchvision_recipe(tmp_path, "import sys; ", env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    first = next(line for line in proc.stderr.splitlines() if line.startswith("- "))
    assert "installed but does not import (RuntimeError: operator torchvision::nms" in first
    assert "pip install 'zelda-video[torchvision]'" in first
    proc = subprocess.run([sys.executable, "-m", "zelda_core", "plugins", "--check"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})
    block = proc.stdout.split("zelda_torchvision (")[1].split("\nzelda_")[0]
    assert block.splitlines()[0].endswith(": unusable"), block
    assert "unusable models:r2plus1d_18: torchvision's video models need torchvision, which is " \
           "installed but does not import" in block
