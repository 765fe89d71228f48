"""A full disk under every command that writes: one line naming the file, no temporary
file left, nothing marked complete that is not, and a re-run (space freed) that repairs.

Each test writes onto a 2 MB tmpfs filled up to a few bytes; mounting needs root (CI runs
as root), so elsewhere they skip with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_util import make_dataset, small_recipe, small_run

from zelda_core._cli.main import main


@pytest.fixture
def disk(tmp_path, request) -> Iterator[Path]:
    """A small tmpfs at ``tmp_path/disk`` (2 MB; ``@pytest.mark.disk_size("8m")`` for
    more), unmounted afterwards."""
    marker = request.node.get_closest_marker("disk_size")
    size = marker.args[0] if marker else "2m"
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; CI runs as root")
    d = tmp_path / "disk"
    d.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


def _fill(disk: Path, leave: int) -> Path:
    """A filler file leaving about ``leave`` bytes free on ``disk``."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    filler = disk / "filler"
    with open(filler, "wb") as f:
        try:
            f.write(b"\0" * max(0, free - leave))
        except OSError:
            pass
    return filler


def _leftovers(folder: Path) -> list[str]:
    """Temporary files (hidden names with tmp or part in them) anywhere under ``folder``."""
    return [str(p) for p in folder.rglob("*")
            if p.name.startswith(".") and ("tmp" in p.name or "part" in p.name)]


def _one_error(err: str, *names: str) -> str:
    assert "Traceback" not in err and "c10::Error" not in err, err
    lines = [x for x in err.splitlines() if x.startswith("zelda: error")]
    assert len(lines) == 1, err
    assert "?" not in lines[0].split(":", 2)[-1].split(";")[0], lines[0]  # never "cannot access ?"
    assert any(n in lines[0] for n in names), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    return small_run(tmp_path_factory.mktemp("full_disk_run"))


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export(trained, disk, fmt) -> None:
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    out = disk / "models" / ("m.onnx" if fmt == "onnx" else "m.pt")
    filler = _fill(disk, 16 * 1024)
    args = [sys.executable, "-m", "zelda_core", "export", str(trained["ckpt"]), "-f", fmt,
            "-o", str(out), "--verify-video", str(trained["video"])]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr  # not 134: no abort
    _one_error(proc.stderr, str(out))
    assert not out.exists() and not _leftovers(disk)
    filler.unlink()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and not _leftovers(disk)


def test_plot(trained, disk, capsys) -> None:
    out = disk / "pictures"
    filler = _fill(disk, 8 * 1024)
    assert main(["plot", str(trained["work"]), "--out", str(out)]) == 1
    _one_error(capsys.readouterr().err, str(out))
    assert not _leftovers(disk)
    filler.unlink()
    assert main(["plot", str(trained["work"]), "--out", str(out)]) == 0
    assert (out / "train_loss.png").is_file() and not _leftovers(disk)


def test_predict(trained, disk, capsys) -> None:
    out = disk / "p.json"
    filler = _fill(disk, 0)
    args = ["predict", str(trained["ckpt"]), str(trained["video"]), "--workers", "0",
            "--format", "json", "--out", str(out)]
    assert main(args) == 1
    _one_error(capsys.readouterr().err, str(out))
    assert not out.exists() and not _leftovers(disk)
    filler.unlink()
    assert main(args) == 0
    assert json.loads(out.read_text()) and not _leftovers(disk)


@pytest.mark.disk_size("8m")  # a checkpoint of the small model with its optimizer: 3 MB
def test_run(trained, disk, capsys) -> None:
    work = disk / "work"
    filler = _fill(disk, 48 * 1024)
    args = ["run", str(trained["recipe"]), "--work-dir", str(work)]
    assert main(args) == 1
    _one_error(capsys.readouterr().err, str(work))
    assert not _leftovers(disk)
    filler.unlink()
    assert main(args) == 0
    capsys.readouterr()
    assert (work / "checkpoints" / "best.pth").is_file() and not _leftovers(disk)


def test_data_prepare(disk, tmp_path, capsys) -> None:
    """Copies that did not fit are retried, not set aside as bad videos: the copy is not
    complete and its lists keep every video once the re-run has written them."""
    root = make_dataset(tmp_path / "data", n_train=4, n_val=3)
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "work")
    out = disk / "copy"
    (disk / "copy").mkdir()
    args = ["data", "prepare", str(recipe), "--out", str(out), "--workers", "1",
            "--short-side", "0"]
    size = sum(p.stat().st_size for p in root.rglob("*.mp4"))
    filler = _fill(disk, size // 3)  # room for some copies, not all
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    manifest = json.loads((out / "prepare.json").read_text())
    assert manifest["complete"] is False and manifest["errors"] and not manifest["failed"]
    assert not (out / "kinetics_tiny_train_video.txt").exists()  # no list of a partial copy
    assert not _leftovers(disk)
    filler.unlink()
    assert main(args) == 0
    capsys.readouterr()
    manifest = json.loads((out / "prepare.json").read_text())
    assert manifest["complete"] is True and manifest["totals"]["prepared"] == 7
    for split, n in (("train", 4), ("val", 3)):
        lines = (out / f"kinetics_tiny_{split}_video.txt").read_text().split()
        assert len(lines) == 2 * n and all((out / split / x).is_file() for x in lines[::2])
    assert not _leftovers(disk)
