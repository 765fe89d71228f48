"""Every command that writes somewhere turns a path it cannot write into one line that
names the path and what to do: a file in the way of a folder, a folder that cannot be made
(under /proc), never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_helpers import zelda
from media import make_video

BAD = ["file_in_the_way", "cannot_be_made"]


def _bad_place(tmp_path: Path, kind: str) -> Path:
    if kind == "file_in_the_way":
        (tmp_path / "afile").write_text("x")
        return tmp_path / "afile"
    return Path("/proc/zelda-cannot-exist")


def _assert_one_line_error(proc, place: Path) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("zelda")]
    assert len(lines) == 1 and str(place.name) in lines[0], proc.stderr
    assert "--work-dir" not in lines[0]  # no command here has that option


@pytest.mark.parametrize("kind", BAD)
def test_export_predict_plot(tiny_run, tmp_path: Path, kind: str) -> None:
    place = _bad_place(tmp_path, kind)
    video = make_video(tmp_path / "v.mp4", 16, size=(32, 32))
    for args in (["export", str(tiny_run["ckpt"]), "-f", "onnx", "--out", str(place / "m.onnx")],
                 ["predict", str(tiny_run["ckpt"]), str(video), "--out", str(place / "p.json")],
                 ["plot", str(tiny_run["work"]), "--out", str(place / "pictures")]):
        _assert_one_line_error(zelda(*args), place)


@pytest.mark.parametrize("kind", BAD)
def test_data_prepare(tmp_path: Path, kind: str) -> None:
    place = _bad_place(tmp_path, kind)
    make_video(tmp_path / "data" / "a" / "v.mp4", 10)
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[data]\nroot = "{tmp_path / "data"}"\n'
                      '[data.train]\ntype = "video_folder"\npipeline = []\n')
    proc = zelda("data", "prepare", str(recipe), "--out", str(place / "copy"), "--workers", "1")
    _assert_one_line_error(proc, place)
    assert "--out" in proc.stderr
