"""Run loggers (``register_loggers``): what a logger receives and when, a logger that
raises never stops the run (one line says so), the ``[loggers]`` recipe tables, and no
tracker library imported unless a recipe names it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from engine_util import make_dataset, small_recipe  # noqa: E402
from plugin_factory import make_dist  # noqa: E402

from zelda_core._cli.main import main  # noqa: E402
from zelda_core._plugins import reset_plugin_manager  # noqa: E402

pytestmark = pytest.mark.decoder_independent

LOGGERS = """
    from zelda_core import hookimpl

    CALLS = []

    class Recorder:
        def __init__(self, label: str = "r"):
            self.label = label

        def start(self, params, *, run_name, work_dir):
            CALLS.append(("start", params, run_name, str(work_dir)))

        def log_metrics(self, kind, step, values):
            CALLS.append(("metrics", kind, step, dict(values)))

        def log_artifact(self, path, kind):
            CALLS.append(("artifact", str(path), kind, path.is_file()))

        def log_summary(self, summary):
            CALLS.append(("summary", summary))

        def finish(self, status):
            CALLS.append(("finish", status))

    class Explodes:
        def __getattr__(self, name):
            if name in ("start", "log_metrics", "log_artifact", "log_summary", "finish"):
                def boom(*args, **kwargs):
                    raise ConnectionError(f"tracker down\\n(in {name})")
                return boom
            raise AttributeError(name)

    def unbuildable():
        raise OSError("no route to the tracking server")

    @hookimpl
    def register_loggers(register):
        register("recorder", Recorder)
        register("explodes", Explodes)
        register("unbuildable", unbuildable)
"""


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("loggers")
    return small_recipe(tmp / "r.toml", make_dataset(tmp / "data", n_train=2, n_val=2), tmp / "work",
                        epochs=2, test_split=True)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    site = make_dist(tmp_path / "site", "zelda-log", "0.1", {"log": LOGGERS})
    monkeypatch.syspath_prepend(str(site))
    reset_plugin_manager()
    yield
    reset_plugin_manager()
    sys.modules.pop("zelda_log_log", None)


def test_a_logger_receives_params_scalars_artifacts_summary_and_finish(recipe, plugin, tmp_path, capsys):
    work = tmp_path / "work"
    assert main(["run", str(recipe), "--work-dir", str(work), "--set", 'loggers.rec={type="recorder"}']) == 0
    calls = sys.modules["zelda_log_log"].CALLS
    assert calls[0][0] == "start" and calls[-1] == ("finish", "success")
    _, params, run_name, where = calls[0]
    assert run_name == "work" and where == str(work)
    assert params["model"]["head"]["num_classes"] == 2  # resolved: the engine's num_classes
    assert params["loggers"]["rec"] == {"type": "recorder"} and params["train"]["epochs"] == 2
    kinds = [c[1] for c in calls if c[0] == "metrics"]
    assert {"train", "epoch", "val", "test"} <= set(kinds)
    epochs = [c[3] for c in calls if c[0] == "metrics" and c[1] == "val"]
    assert [v["epoch"] for v in epochs] == [1, 2] and all("top1" in v for v in epochs)
    records = [json.loads(x) for x in (work / "metrics.jsonl").read_text().splitlines()]
    got = [(c[1], c[2], c[3]) for c in calls if c[0] == "metrics"]
    assert len(got) == len(records)  # the same records metrics.jsonl holds
    artifacts = [c for c in calls if c[0] == "artifact"]
    summary = json.loads((work / "summary.json").read_text())
    assert ("artifact", summary["best_checkpoint"], "checkpoint", True) in artifacts
    assert all(exists for *_, exists in artifacts)
    assert ("report" in {c[2] for c in artifacts}) == (work / "report.html").is_file()
    assert [c for c in calls if c[0] == "summary"] == [("summary", summary)]


def test_a_logger_that_raises_on_every_call_never_stops_the_run(recipe, plugin, tmp_path, capsys):
    work = tmp_path / "work"
    assert main(["run", str(recipe), "--work-dir", str(work), "--set", 'loggers.boom={type="explodes"}',
                 "--set", 'loggers.rec={type="recorder"}', "--set", 'loggers.down={type="unbuildable"}']) == 0
    out = capsys.readouterr().out
    said = [line for line in out.splitlines() if "logger 'down'" in line]
    assert len(said) == 1 and "OSError: no route to the tracking server" in said[0], out
    said = [line for line in out.splitlines() if "logger 'boom'" in line]
    assert len(said) == 1, out
    assert "ConnectionError: tracker down (in start)" in said[0] and "disabled" in said[0], said
    assert "plugin 'log' (zelda-log 0.1)" in said[0]
    assert (work / "train.log").read_text().count("logger 'boom'") == 1
    # the others go on: the run trained, tested and logged everything
    calls = sys.modules["zelda_log_log"].CALLS
    assert calls[-1] == ("finish", "success")
    assert json.loads((work / "summary.json").read_text())["test"]
    assert sum(1 for x in (work / "metrics.jsonl").read_text().splitlines() if '"type": "val"' in x) == 2


def test_a_recipe_names_its_loggers(recipe, capsys):
    capsys.readouterr()
    assert main(["recipe", "check", str(recipe), "--set", "loggers.jsonl=false"]) == 1
    err = capsys.readouterr().err
    assert "key 'loggers.jsonl'" in err and "cannot be turned off" in err, err
    assert main(["recipe", "check", str(recipe), "--set", "loggers.tensorboard=false"]) == 0
    assert main(["recipe", "check", str(recipe), "--set", 'loggers.x={type="mlfow"}']) == 1
    err = capsys.readouterr().err
    assert "key 'loggers.x'" in err and "did you mean 'mlflow'" in err.lower(), err
    assert main(["recipe", "check", str(recipe), "--set", "loggers.x=3"]) == 1
    assert "key 'loggers.x'" in capsys.readouterr().err


def test_no_tracker_library_is_imported_unless_a_recipe_names_it(recipe, tmp_path):
    """``zelda --help``, ``zelda plugins`` and the check of a recipe without trackers import
    neither mlflow nor wandb (seconds each)."""
    code = (
        "import sys\nfrom zelda_core._cli.main import main\n"
        "for argv in (['--help'], ['plugins'], ['recipe', 'check', sys.argv[1]]):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "print('LOADED', sorted(m for m in ('mlflow', 'wandb', 'tensorboard') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(recipe)], capture_output=True, text=True, timeout=120)
    assert "LOADED []" in out.stdout, out.stdout[-500:] + out.stderr[-2000:]


def test_the_bundled_loggers_keep_the_run_files(recipe, tmp_path):
    """metrics.jsonl comes from the bundled jsonl logger: the loggers of a plain run."""
    from zelda_core._engine.loggers import build_loggers, logger_tables

    assert list(logger_tables({})) == ["jsonl", "tensorboard"]
    assert list(logger_tables({"loggers": {"tensorboard": False, "m": {"type": "mlflow"}}})) == ["jsonl", "m"]
    assert list(logger_tables({"loggers": {"tb": {"type": "tensorboard"}}})) == ["jsonl", "tb"]
    names = [e.name for e in build_loggers({"loggers": {"tensorboard": False}})]
    assert names == ["jsonl"]
    assert Path(sys.modules["zelda_loggers.jsonl"].__file__).parent.name == "zelda_loggers"
