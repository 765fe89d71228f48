"""Every command that writes somewhere turns a path it cannot write into one line that
names the path and what to do: a file in the way of a folder, a folder that cannot be made
(under /proc), never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_helpers import zelda
from extras import need
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


COMMANDS = {  # command: (extra and module it needs or None, its arguments for (ckpt, work, video, place))
    "export_torchscript": (None, lambda r, v, p: ["export", str(r["ckpt"]), "-f", "torchscript",
                                                  "--out", str(p / "m.pt")]),
    "export_onnx": (("export", "onnx"), lambda r, v, p: ["export", str(r["ckpt"]), "-f", "onnx",
                                                         "--out", str(p / "m.onnx")]),
    "predict": (None, lambda r, v, p: ["predict", str(r["ckpt"]), str(v), "--out", str(p / "p.json")]),
    "plot": (("plot", "matplotlib"), lambda r, v, p: ["plot", str(r["work"]), "--out",
                                                      str(p / "pictures")]),
}


@pytest.mark.parametrize("kind", BAD)
@pytest.mark.parametrize("command", COMMANDS)
def test_export_predict_plot(tiny_run, tmp_path: Path, kind: str, command: str) -> None:
    """Each command that needs an extra skips without it (it would fail on the missing
    package, not on the path); the others run everywhere."""
    needs, args = COMMANDS[command]
    if needs:
        need(needs[1], needs[0])
    place = _bad_place(tmp_path, kind)
    video = make_video(tmp_path / "v.mp4", 16, size=(32, 32))
    _assert_one_line_error(zelda(*args(tiny_run, video, place)), place)


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
