"""Every file a user names is read safely: regular files only, under a size limit, never
blocking, and a wrong kind of path is named for what it is (issue 22, items 14-16).

Each case runs the real CLI in a subprocess with a timeout, so a FIFO that blocks or an
endless ``/dev/zero`` fails the test instead of hanging it. A user's mistake is one
``zelda: error:`` paragraph naming the file, never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from engine_util import make_dataset, small_recipe

TIMEOUT = 120
RECIPE_LIMIT = 1 << 20


def zelda(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The real CLI; a hang fails the test (TimeoutExpired) instead of blocking it."""
    return subprocess.run([sys.executable, "-m", "zelda_core", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=TIMEOUT,
                          env={**os.environ, "ZELDA_PLOTS": "0"})


def refused(out: subprocess.CompletedProcess, *needles: str) -> str:
    """The error of a run that failed cleanly: exit 1, no traceback, every needle said."""
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    assert "zelda: error:" in out.stderr, out.stderr
    for needle in needles:
        assert needle in out.stderr, (needle, out.stderr)
    return out.stderr


@pytest.fixture
def odd_paths(tmp_path: Path) -> dict[str, Path]:
    """A FIFO, a folder, a symbolic link loop and a character device."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    (tmp_path / "loop_a").symlink_to(tmp_path / "loop_b")
    (tmp_path / "loop_b").symlink_to(tmp_path / "loop_a")
    return {"a FIFO (named pipe)": fifo, "a directory": folder,
            "a symbolic link loop": tmp_path / "loop_a", "a character device": Path("/dev/zero")}


def test_path_kind_names_each_kind(odd_paths, tmp_path):
    from zelda_core._userfile import path_kind

    for kind, path in odd_paths.items():
        assert path_kind(path) == kind
    (tmp_path / "broken").symlink_to(tmp_path / "nowhere")
    assert path_kind(tmp_path / "broken") == "a broken symbolic link"
    assert path_kind(tmp_path / "nowhere") == "missing"
    (tmp_path / "f").write_text("x")
    assert path_kind(tmp_path / "f") == "a regular file"
    assert path_kind(tmp_path / "f" / "under").startswith("missing")


def test_read_user_text_is_bounded(tmp_path):
    from zelda_core import ZeldaError
    from zelda_core._userfile import RECIPE_LIMIT, read_user_text

    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(RECIPE_LIMIT + 1)
    with pytest.raises(ZeldaError, match="longer than 1 MiB"):
        read_user_text(big, "recipe file", limit=RECIPE_LIMIT)
    ok = tmp_path / "ok.txt"
    ok.write_bytes(b"\xef\xbb\xbfhello\n")
    assert read_user_text(ok, "list", limit=10) == "hello\n"


def test_recipe_paths_of_every_kind_are_refused_by_name(odd_paths, tmp_path):
    for kind, path in odd_paths.items():
        refused(zelda("recipe", "check", path), f"{path} is {kind}, not a TOML file")
    big = tmp_path / "big.toml"
    big.write_text("# padding\n" * (RECIPE_LIMIT // 10 + 1))
    refused(zelda("recipe", "check", big), "longer than 1 MiB")
    refused(zelda("recipe", "check", tmp_path / "nope.toml"), "recipe file not found")


def test_extends_naming_a_fifo_a_device_or_a_loop_is_refused(odd_paths, tmp_path):
    for kind, path in odd_paths.items():
        r = tmp_path / "r.toml"
        r.write_text(f'extends = "{path}"\n')
        refused(zelda("recipe", "check", r), f"is {kind}, not a TOML file", "key 'extends'")


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> dict[str, Path]:
    """A tiny data set and its recipe (no training)."""
    tmp = tmp_path_factory.mktemp("small")
    root = make_dataset(tmp / "data")
    return {"root": root, "recipe": small_recipe(tmp / "r.toml", root, tmp / "work", epochs=1)}


@pytest.mark.parametrize("key", ["ann_file", "label_map"])
def test_annotation_lists_and_label_maps_that_are_not_files(small, odd_paths, key):
    """A FIFO as ann_file used to hang forever; a folder said "cannot read"."""
    for kind in ("a FIFO (named pipe)", "a directory", "a character device"):
        path = odd_paths[kind]
        out = zelda("data", "check", small["recipe"], "--split", "train",
                    "--set", f"data.train.{key}={json.dumps(str(path))}")
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert f"{path} is {kind}, not a regular file" in out.stdout
    fifo = odd_paths["a FIFO (named pipe)"]
    refused(zelda("bench", "pipeline", small["recipe"], "--set", f"data.train.{key}={json.dumps(str(fifo))}"),
            f"{fifo} is a FIFO (named pipe), not a regular file")


def test_a_listed_video_that_is_a_folder_is_not_called_missing(small, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "val").symlink_to(small["root"] / "val")
    (root / "train").mkdir()
    (root / "train" / "train1.mp4").symlink_to(small["root"] / "train" / "train1.mp4")
    (root / "train" / "v.mp4").mkdir()
    (root / "label_map.txt").write_text("dark\nbright\n")
    (root / "kinetics_tiny_train_video.txt").write_text("v.mp4 0\ntrain1.mp4 1\n")
    (root / "kinetics_tiny_val_video.txt").write_text("val0.mp4 0\n")
    out = zelda("data", "check", small["recipe"], "--set", f"data.root={json.dumps(str(root))}",
                "--split", "train")
    assert out.returncode == 1
    assert "is a directory, not a video file" in out.stdout and "not found" not in out.stdout


def test_prefix_and_video_folder_that_are_files(small, tmp_path):
    file = tmp_path / "afile"
    file.write_text("x")
    out = zelda("bench", "pipeline", small["recipe"], "--set", f"data.train.prefix={json.dumps(str(file))}")
    refused(out, "prefix folder", "is a regular file, not a folder")


def test_bench_pipeline_limit_must_be_positive(small):
    for limit in ("0", "-2"):
        refused(zelda("bench", "pipeline", small["recipe"], "--limit", limit),
                "--limit must be at least 1")


def test_bench_decode_refuses_negative_seed_and_odd_paths(small, odd_paths):
    video = small["root"] / "val" / "val0.mp4"
    refused(zelda("bench", "decode", video, "--seed", "-1"), "--seed must be >= 0")
    refused(zelda("bench", "decode", video, "--size", "-4"), "--size must be >= 0")
    refused(zelda("bench", "decode", odd_paths["a FIFO (named pipe)"]), "is a FIFO (named pipe)")
    refused(zelda("bench", "decode", odd_paths["a symbolic link loop"]), "is a symbolic link loop")


# --- what a trained run gives: checkpoints and metrics.jsonl ------------------------------

def test_predict_lists_that_are_binary_or_fifos(tiny_run, odd_paths, tmp_path):
    ckpt = tiny_run["ckpt"]
    binary = tmp_path / "videos.lst"
    binary.write_bytes(b"ok.mp4\n\xff\xfe\x00\x81\n")
    refused(zelda("predict", ckpt, "--list", binary), f"{binary}:2: video list is not UTF-8")
    fifo = odd_paths["a FIFO (named pipe)"]
    refused(zelda("predict", ckpt, "--list", fifo), f"{fifo} is a FIFO (named pipe)")


def test_checkpoint_paths_of_every_kind(tiny_run, odd_paths):
    video = tiny_run["root"] / "val" / "val0.mp4"
    for kind, path in odd_paths.items():
        refused(zelda("predict", path, video), f"checkpoint {path} is {kind}")


def test_predict_names_what_a_bad_video_path_is(tiny_run, odd_paths):
    out = zelda("predict", tiny_run["ckpt"], odd_paths["a FIFO (named pipe)"],
                odd_paths["a symbolic link loop"], tiny_run["root"] / "val" / "val0.mp4")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    said = out.stdout + out.stderr
    assert "it is a FIFO (named pipe), not a video file" in said
    assert "it is a symbolic link loop, not a video file" in said
    assert "file not found" not in said


@pytest.mark.parametrize("key, value", [("data", 5), ("data.val", "x"), ("train", [1])])
def test_checkpoint_whose_recipe_is_damaged(tiny_run, tmp_path, key, value):
    ckpt = torch.load(tiny_run["ckpt"], weights_only=True)
    node = ckpt["recipe"]
    *parents, last = key.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    bad = tmp_path / "bad.pth"
    torch.save(ckpt, bad)
    video = tiny_run["root"] / "val" / "val0.mp4"
    refused(zelda("predict", bad, video), f"{bad}: the recipe inside has {key} = ", "not a table")
    refused(zelda("export", bad, "-f", "torchscript", "-o", tmp_path / "m.pt"), f"{key} = ")
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("line, needle", [
    (b"[1, 2]\n", "metrics.jsonl:2: expected a JSON object"),
    (b'"text"\n', "metrics.jsonl:2: expected a JSON object"),
    (b'{"type": "train", "loss": 1.0}\n', "metrics.jsonl:2: a train record needs an integer 'step'"),
    (b'{"type": "val", "step": "3", "top1": 1}\n', "metrics.jsonl:2: a val record needs an integer"),
    (b"\xff\xfe\x00\x01\n", "metrics.jsonl:2: metrics file is not UTF-8"),
])
def test_plot_on_bad_metrics_lines(tmp_path, line, needle):
    work = tmp_path / "work"
    work.mkdir()
    good = json.dumps({"type": "train", "step": 1, "loss": 1.0, "lr": 0.1}).encode() + b"\n"
    (work / "metrics.jsonl").write_bytes(good + line + good)
    refused(zelda("plot", work, "--out", tmp_path / "plots"), needle)
    assert not (tmp_path / "plots").exists() or not any((tmp_path / "plots").iterdir())


def test_plot_on_odd_paths(tmp_path, odd_paths):
    work = tmp_path / "work"
    work.mkdir()
    os.mkfifo(work / "metrics.jsonl")
    refused(zelda("plot", work, "--out", tmp_path / "plots"), "is a FIFO (named pipe)")
    refused(zelda("plot", odd_paths["a symbolic link loop"], "--out", tmp_path / "plots"),
            "work dir", "is a symbolic link loop, not a folder")


def test_probe_names_what_a_path_is(odd_paths):
    """A FIFO was "empty file", a loop "cannot stat ([Errno 40] ...)"."""
    for kind, path in odd_paths.items():
        out = zelda("probe", path)
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert f"{path}: cannot decode: is {kind}, not a video file" in out.stdout + out.stderr


def test_a_data_root_that_is_not_a_folder(small, odd_paths, tmp_path):
    """It said "does not exist" (and a file named kinetics400_tiny would be downloaded over)."""
    file = tmp_path / "kinetics400_tiny"
    file.write_text("my notes\n")
    for path, kind in ((file, "a regular file"), (odd_paths["a FIFO (named pipe)"], "a FIFO (named pipe)")):
        refused(zelda("run", small["recipe"], "--no-download", "--set", f"data.root={json.dumps(str(path))}",
                      "--set", f"work_dir={json.dumps(str(tmp_path / 'work'))}"),
                f"data.root '{path}' is {kind}, not a folder")
    assert file.read_text() == "my notes\n"
