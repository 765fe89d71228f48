"""``zelda run`` / ``test`` against faults: missing files, shared or broken work dirs, bad
checkpoints. Every failure is one message naming the path, never a traceback."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from engine_util import make_dataset, small_recipe  # noqa: E402

from zelda_core._cli.main import main  # noqa: E402


def test_missing_file_under_skip_is_skipped_and_reported(tmp_path, capsys):
    root = make_dataset(tmp_path / "data")
    with open(root / "kinetics_tiny_train_video.txt", "a") as f:
        f.write("gone.mp4 1\n")
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "work", epochs=1)
    assert main(["run", str(recipe)]) == 1  # "raise": stops before it starts, says why
    err = capsys.readouterr().err
    assert "video not found" in err and 'data.on_error = "skip"' in err
    assert main(["run", str(recipe), "--set", 'data.on_error="skip"']) == 0
    out = capsys.readouterr().out
    assert "gone.mp4: no such file" in out
    summary = json.loads((tmp_path / "work" / "summary.json").read_text())
    assert [f.rsplit("/", 1)[-1] for f, _ in summary["skipped"]] == ["gone.mp4"]
