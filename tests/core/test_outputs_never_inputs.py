"""No command writes onto its own inputs, onto a special file or through a symlink.

Every command that writes (predict, export, test, plot, data prepare, run) is pointed at
each of its own inputs, at a symlink, a hard link, a FIFO and a device node; each is
refused with one line naming the path, and every input (and the special files) is
byte-for-byte, kind-for-kind the same afterwards. Device nodes need root (mknod): those
cases skip elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

import pytest
from engine_util import small_recipe, small_run

from zelda_core._cli.main import main

TARGETS = ["symlink", "fifo", "device"]


def _snapshot(*paths: Path) -> dict[str, tuple]:
    """Kind and content of every path (recursively): a symlink by its target, a special
    file by its type and device number, a file by its SHA-256."""
    seen: dict[str, tuple] = {}
    for top in paths:
        if not os.path.lexists(top):
            seen[str(top)] = ("absent",)
            continue
        for p in [top, *(top.rglob("*") if top.is_dir() and not top.is_symlink() else [])]:
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                seen[str(p)] = ("link", os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                seen[str(p)] = ("file", hashlib.sha256(p.read_bytes()).hexdigest())
            elif stat.S_ISDIR(st.st_mode):
                seen[str(p)] = ("dir",)
            else:
                seen[str(p)] = ("special", stat.S_IFMT(st.st_mode), st.st_rdev)
    return seen


def _special(tmp: Path, kind: str, target: Path) -> Path:
    """A symlink to ``target``, a FIFO or a device node (/dev/full's numbers) in ``tmp``."""
    path = tmp / f"out-{kind}"
    if kind == "symlink":
        path.symlink_to(target)
    elif kind == "hardlink":
        os.link(target, path)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        if os.geteuid() != 0:
            pytest.skip("a device node needs root (mknod); CI runs as root")
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """A small run of this module's own (its files are the inputs these tests guard)."""
    return small_run(tmp_path_factory.mktemp("own_run"))


@pytest.fixture
def case(trained, tmp_path) -> dict[str, Path]:
    """A private copy of the trained run's files for one test (a defect destroys only it)."""
    root = tmp_path / "data"
    shutil.copytree(trained["root"], root)
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "work", epochs=1)
    ckpt = tmp_path / "model.pth"
    shutil.copy(trained["ckpt"], ckpt)
    work = tmp_path / "run"
    shutil.copytree(trained["work"], work)
    return {"root": root, "recipe": recipe, "ckpt": ckpt, "work": work,
            "video": root / "val" / "val0.mp4", "tmp": tmp_path}


def _refused(args: list[str], capsys, *watched: Path) -> str:
    before = _snapshot(*watched)
    rc = main(args)
    err = capsys.readouterr().err
    assert rc != 0, f"{args} was accepted:\n{err}"
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.startswith("zelda: error")]
    assert len(lines) == 1, err
    assert _snapshot(*watched) == before, f"{args} changed its inputs"
    return lines[0]


def _predict(c, out) -> list[str]:
    return ["predict", str(c["ckpt"]), str(c["video"]), "--workers", "0", "--out", str(out)]


def _export(c, out) -> list[str]:
    return ["export", str(c["ckpt"]), "-f", "torchscript", "-o", str(out), "--verify-video",
            str(c["video"])]


def _test(c, out) -> list[str]:
    return ["test", str(c["recipe"]), "-c", str(c["ckpt"]), "--split", "val", "--out", str(out)]


FILE_COMMANDS = {"predict": (_predict, ["ckpt", "video"]),
                 "export": (_export, ["ckpt", "video"]),
                 "test": (_test, ["ckpt", "video", "recipe"])}


@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_file_outputs_refuse_their_inputs(case, capsys, command) -> None:
    make, inputs = FILE_COMMANDS[command]
    for name in inputs:
        line = _refused(make(case, case[name]), capsys, case["root"], case["ckpt"], case["recipe"])
        assert str(case[name]) in line and "input" in line, line
    # another spelling of the checkpoint: a hard link, and a path through ".."
    other = case["tmp"] / "sub"
    other.mkdir()
    for out in (_special(case["tmp"], "hardlink", case["ckpt"]), other / ".." / "model.pth"):
        _refused(make(case, out), capsys, case["root"], case["ckpt"], case["recipe"])


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("command", FILE_COMMANDS)
def test_file_outputs_refuse_special_files(case, capsys, command, target) -> None:
    make, _ = FILE_COMMANDS[command]
    spare = case["tmp"] / "spare.txt"  # a link's target that is no input: still refused
    spare.write_text("mine\n")
    out = _special(case["tmp"], target, spare)
    line = _refused(make(case, out), capsys, out, spare, case["root"], case["ckpt"], case["recipe"])
    assert str(out) in line
    assert {"symlink": "symbolic link", "fifo": "FIFO", "device": "device"}[target] in line


def test_test_metrics_folder_stays_out_of_the_data(case, capsys) -> None:
    """``test --out DIR/x.json`` writes ``DIR/<split>/``: never a split's video folder."""
    _refused(_test(case, case["root"] / "m.json"), capsys, case["root"])


@pytest.mark.parametrize("target", ["input", "linked_picture", *TARGETS])
def test_plot(case, capsys, target) -> None:
    metrics = case["work"] / "metrics.jsonl"
    if target == "input":
        out = metrics
    elif target == "linked_picture":  # a picture's name in --out links to an input
        out = case["tmp"] / "pictures"
        out.mkdir()
        (out / "train_loss.png").symlink_to(metrics)
    else:
        out = _special(case["tmp"], target, metrics)
    _refused(["plot", str(case["work"]), "--out", str(out)], capsys, case["work"], out)


@pytest.mark.parametrize("target", ["root", "symlink_to_root", "inside_root", "holds_root",
                                    "fifo", "device"])
def test_data_prepare(case, capsys, target) -> None:
    root = case["root"]
    out = {"root": root, "inside_root": root / "copy", "holds_root": root.parent}.get(target)
    if target == "symlink_to_root":
        out = case["tmp"] / "prep"
        out.symlink_to(root)
    elif out is None:
        out = _special(case["tmp"], target, root)
    line = _refused(["data", "prepare", str(case["recipe"]), "--out", str(out), "--workers", "1"],
                    capsys, root, case["recipe"], out)
    assert str(out) in line


@pytest.mark.parametrize("target", ["root", "symlink_to_root", "split", "fifo", "device"])
def test_run_work_dir(case, capsys, target) -> None:
    """Twice: a first run that wrote into the data would make the second archive it."""
    root = case["root"]
    work = {"root": root, "split": root / "val"}.get(target)
    if target == "symlink_to_root":
        work = case["tmp"] / "w"
        work.symlink_to(root)
    elif work is None:
        work = _special(case["tmp"], target, root)
    for _ in range(2):
        _refused(["run", str(case["recipe"]), "--work-dir", str(work)], capsys, root, work)


def test_fresh_run_archives_only_what_zelda_wrote(case, capsys) -> None:
    """A work dir (from an older zelda: no record) holding a user's ``val/`` of videos
    next to an earlier run's files: fresh runs move the run's files to ``previous/`` and
    leave the videos where they are, then and on the next run (the record now says so)."""
    work = case["work"]
    (work / ".zelda-outputs.json").unlink(missing_ok=True)
    shutil.rmtree(work / "val")
    (work / "val").mkdir()
    mine = work / "val" / "clip.mp4"
    shutil.copy(case["video"], mine)
    before = _snapshot(mine)
    for n in (1, 2):
        assert main(["run", str(case["recipe"]), "--work-dir", str(work)]) == 0
        capsys.readouterr()
        assert _snapshot(mine) == before
        archived = sorted((work / "previous").iterdir())
        assert len(archived) == n and (archived[-1] / "checkpoints").is_dir()
        assert not any(p.suffix == ".mp4" for a in archived for p in a.rglob("*"))
