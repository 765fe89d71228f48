"""``zelda run`` / ``test`` / ``predict``: exit codes, messages, files; data download."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import zipfile
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from deploy_helpers import link_kinetics2_subset  # noqa: E402
from engine_util import make_dataset, small_recipe  # noqa: E402
from media import make_video  # noqa: E402

from zelda_core._cli.main import main  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One small run (2 epochs, with a test split) shared by the tests below."""
    tmp = tmp_path_factory.mktemp("run")
    root = make_dataset(tmp / "data")
    recipe = small_recipe(tmp / "r.toml", root, tmp / "work", epochs=1, test_split=True)
    assert main(["run", str(recipe)]) == 0
    return tmp, recipe


def test_run_writes_everything(trained, capsys):
    tmp, _ = trained
    work = tmp / "work"
    for name in ("resolved.toml", "metrics.jsonl", "train.log", "summary.json", "test_metrics.json",
                 "checkpoints/best.pth", "checkpoints/last.pth", "checkpoints/epoch_1.pth",
                 "val/confusion_matrix.csv", "test/confusion_matrix.csv"):
        assert (work / name).exists(), name
    test = json.loads((work / "test_metrics.json").read_text())["metrics"]
    assert {"top1", "top5", "mean_class_accuracy", "samples"} <= set(test)
    kinds = {json.loads(x)["type"] for x in (work / "metrics.jsonl").read_text().splitlines()}
    assert kinds == {"train", "epoch", "val", "test"}


def test_resume_continues_the_run(trained, capsys):
    tmp, recipe = trained
    work = tmp / "resumed"
    shutil.copytree(tmp / "work", work)
    rc = main(["run", str(recipe), "--work-dir", str(work), "--resume", "--set", "train.epochs=2"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "resumed from" in out and "epoch 2/2" in out and "epoch 1/2" not in out


def test_test_command(trained, capsys, tmp_path):
    tmp, recipe = trained
    out_file = tmp_path / "m.json"
    rc = main(["test", str(recipe), "--checkpoint", str(tmp / "work/checkpoints/best.pth"),
               "--split", "val", "--out", str(out_file)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "top1" in out and "mean_class_accuracy" in out
    assert json.loads(out_file.read_text())["metrics"]["samples"] == 2.0


def test_predict_command(trained, capsys, tmp_path):
    tmp, _ = trained
    video = make_video(tmp_path / "v.mp4", frames=24, pattern="dark")
    ckpt = str(tmp / "work/checkpoints/best.pth")
    assert main(["predict", ckpt, str(video), "--json", "--top-k", "1"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res[0]["predictions"][0]["label"] in ("dark", "bright") and len(res[0]["predictions"]) == 1
    assert main(["predict", ckpt, str(video), str(tmp_path / "nope.mp4")]) == 1
    out = capsys.readouterr().out
    assert "%" in out and "error: file not found" in out


def test_cli_errors_are_one_paragraph(trained, capsys, tmp_path):
    tmp, recipe = trained
    assert main(["run", str(tmp_path / "missing.toml")]) == 1
    assert "recipe file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    assert main(["predict", str(bad), str(tmp_path / "v.mp4")]) == 1
    assert "cannot read checkpoint" in capsys.readouterr().err
    assert main(["run", str(recipe), "--work-dir", str(tmp_path / "empty"), "--resume"]) == 1
    assert "no checkpoint to resume from" in capsys.readouterr().err
    assert main(["run", str(recipe), "--set", f"data.root={tmp_path / 'nowhere'}"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["run", str(recipe), "--set", "train.optimizer.type=Adamm"]) == 1
    assert "unknown optimizer type 'Adamm'" in capsys.readouterr().err
    assert main(["run", str(recipe), "--resume", "--init-from", "x.pth"]) == 1
    assert "exclude each other" in capsys.readouterr().err


# --- download ----------------------------------------------------------------------------

@pytest.fixture
def http_server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1 (a random port)."""
    www = tmp_path / "www"
    www.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(www), **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _zip_tree(src: Path, dest: Path, arc_root: str) -> None:
    with zipfile.ZipFile(dest, "w") as zf:
        for p in sorted(src.rglob("*")):
            zf.write(p, f"{arc_root}/{p.relative_to(src)}")


def test_download_extracts_kinetics_tiny(tmp_path, http_server):
    from zelda_core._engine.download import ensure_dataset

    www, url = http_server
    src = tmp_path / "src"
    for name in ("train", "val"):
        (src / name).mkdir(parents=True)
        (src / name / "a.mp4").write_bytes(b"x")
    (src / "kinetics_tiny_train_video.txt").write_text("a.mp4 0\n")
    (src / "kinetics_tiny_val_video.txt").write_text("a.mp4 0\n")
    _zip_tree(src, www / "kinetics400_tiny.zip", "kinetics400_tiny")
    root = tmp_path / "data" / "kinetics400_tiny"
    assert ensure_dataset(root, url=f"{url}/kinetics400_tiny.zip") == root
    assert (root / "train" / "a.mp4").exists() and (root / "kinetics_tiny_val_video.txt").exists()
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["kinetics400_tiny"]  # no leftovers


def test_download_failures_say_how_to_get_the_data(tmp_path, http_server, monkeypatch, capsys):
    """With the embedded fallback off (ZELDA_EMBEDDED_DATA=0), each failure says how to get
    the data; with it on, a failed download gives the embedded set and says so."""
    from zelda_core._engine.download import EMBEDDED, ensure_dataset
    from zelda_core._errors import DataError

    www, url = http_server
    monkeypatch.setenv("ZELDA_EMBEDDED_DATA", "1")
    assert ensure_dataset(tmp_path / "kinetics400_tiny", url=f"{url}/missing.zip") == EMBEDDED
    assert "training on the small clip set embedded" in capsys.readouterr().err
    monkeypatch.setenv("ZELDA_EMBEDDED_DATA", "0")
    (www / "notzip.zip").write_bytes(b"<html>proxy login</html>")
    root = tmp_path / "kinetics400_tiny"
    with pytest.raises(DataError, match="did not give a zip archive.*Download"):
        ensure_dataset(root, url=f"{url}/notzip.zip")
    with pytest.raises(DataError, match="could not be downloaded.*unzip it"):
        ensure_dataset(root, url=f"{url}/missing.zip")
    with pytest.raises(DataError, match="could not be downloaded"):
        ensure_dataset(root, url="http://127.0.0.1:9/kinetics400_tiny.zip", timeout=2)  # offline
    with pytest.raises(DataError, match="only 'kinetics400_tiny' is downloaded"):
        ensure_dataset(tmp_path / "other")
    assert not root.exists()


# --- end to end on real videos ---------------------------------------------------------------

@pytest.mark.slow
def test_end_to_end_kinetics2_subset(shared_dir, tmp_path, capsys):
    """``zelda run recipes/kinetics_tiny.toml`` on 4 train / 2 val videos of kinetics2_tiny."""
    src = shared_dir / "data" / "kinetics2_tiny"
    if not src.is_dir():
        pytest.skip(f"{src} not found")
    root = link_kinetics2_subset(src, tmp_path / "k2", n_train=4, n_val=2)
    work = tmp_path / "work"
    rc = main(["run", str(REPO / "recipes" / "kinetics_tiny.toml"), "--work-dir", str(work),
               "--set", f"data.root={root}", "--set", "train.epochs=1", "--set", "data.workers=0",
               "--set", "data.train.label_map=label_map.txt",
               "--set", "data.val.pipeline.0.num_clips=1"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "epoch 1/1" in out and "val top1" in out
    ck = torch.load(work / "checkpoints" / "last.pth", weights_only=True)
    assert ck["classes"] == ["doing exercises", "typing"]
    video = next((root / "val").iterdir())
    assert main(["predict", str(work / "checkpoints" / "last.pth"), str(video), "--top-k", "2"]) == 0
    assert "typing" in capsys.readouterr().out


def test_test_with_a_missing_data_root_says_how_to_point_at_the_data(trained, tmp_path, capsys):
    """``zelda test`` on a machine where the recipe's data.root is not: one line naming the
    root, the --set override and the run's resolved.toml (with the root it trained on)."""
    tmp, recipe = trained
    ckpt = tmp / "work" / "checkpoints" / "best.pth"
    capsys.readouterr()
    assert main(["test", str(recipe), "--checkpoint", str(ckpt),
                 "--set", f"data.root={tmp_path / 'moved'}"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert f"{tmp_path / 'moved'}" in err and "--set data.root=PATH" in err
    assert f"{tmp / 'work' / 'resolved.toml'}" in err and "it trained on data.root" in err
