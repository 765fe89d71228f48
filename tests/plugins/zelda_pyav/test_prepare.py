"""``zelda data prepare``: verified copies, failure reports, resume after kill -9, shards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from decoder_fixtures import make_video, manifest, shared_videos, thumb16
from zelda_pyav.encode import part_path

from zelda_core._video import open_video

RECIPE = """\
seed = 0
[data]
root = "{root}"
decoder = "pyav"
[data.train]
type = "video_list"
ann_file = "train.txt"
label_map = "labels.txt"
pipeline = []
[data.val]
type = "video_list"
ann_file = "val.txt"
pipeline = []
"""


def _dataset(root: Path, n: int, *, corrupt: bool = False, frames: int = 24,
             size: tuple[int, int] = (48, 64)) -> Path:
    """root/{a,b}/vNN.mp4 listed in train.txt and val.txt, labels.txt, and a recipe."""
    lines = {"train": [], "val": []}
    for i in range(n):
        rel = f"{'ab'[i % 2]}/v{i:02d}.mp4"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        make_video(root / rel, frames + i, size=size)
        lines["val" if i % 4 == 3 else "train"].append(f"{rel} {i % 2}")
    if corrupt:
        (root / "a" / "broken.mp4").write_bytes(b"this is not a video\n" * 20)
        lines["train"].insert(1, "a/broken.mp4 0")
    for split, text in lines.items():
        (root / f"{split}.txt").write_text("# comment kept\n" + "\n".join(text) + "\n")
    (root / "labels.txt").write_text("first\nsecond\n")
    recipe = root.parent / f"{root.name}.toml"
    recipe.write_text(RECIPE.format(root=root))
    return recipe


def _zelda(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zelda_core", *args], capture_output=True,
                          text=True, timeout=300, **kw)


def _assert_copy(src: Path, dst: Path, short_side: int | None = None) -> None:
    with open_video(str(src), decoder="pyav") as s, open_video(str(dst), decoder="pyav") as d:
        assert d.num_frames == s.num_frames
        assert d.fps == pytest.approx(s.fps, rel=1e-3)
        if short_side is None:
            assert (d.height, d.width) == (s.height, s.width)
        picks = list(range(s.num_frames))
        mine, theirs = d.get_frames(picks), s.get_frames(picks, size=(d.height, d.width))
    for i in picks:
        own = np.abs(thumb16(mine[i]) - thumb16(theirs[i])).mean()
        assert own <= 2.0, f"{dst} frame {i}: off by {own:.2f}"
        if i + 1 < len(picks):  # and it is not its neighbour
            assert own < np.abs(thumb16(mine[i]) - thumb16(theirs[i + 1])).mean()


def test_prepare_copies_sets_aside_corrupt_and_resumes(tmp_path: Path) -> None:
    root = tmp_path / "data"
    recipe = _dataset(root, 4, corrupt=True)
    out = tmp_path / "prepared"
    r = _zelda("data", "prepare", str(recipe), "--out", str(out), "--workers", "1")
    assert r.returncode == 1, r.stderr  # a failure is reported, the rest prepared
    assert "failed: a/broken.mp4" in r.stdout and "4/5 videos prepared, 1 failed" in r.stdout
    m = json.loads((out / "prepare.json").read_text())
    assert m["complete"] and m["totals"]["prepared"] == 4 and m["totals"]["failed"] == 1
    assert m["failed"][0]["file"] == "a/broken.mp4" and "source" in m["failed"][0]["reason"]
    assert m["settings"]["name"] == "random-access" and m["versions"]["av"]
    for rel in ("a/v00.mp4", "b/v01.mp4", "a/v02.mp4", "b/v03.mp4"):
        _assert_copy(root / rel, out / rel)
        with open_video(str(out / rel), decoder="pyav") as d:
            assert d.info()["keyframe_interval"] == 1  # random-access: every frame a keyframe
    assert not (out / "a" / "broken.mp4").exists()
    # annotation files: identical but for the failed video's line, which is set aside
    assert (out / "labels.txt").read_text() == (root / "labels.txt").read_text()
    assert (out / "val.txt").read_text() == (root / "val.txt").read_text()
    src_lines = (root / "train.txt").read_text().splitlines()
    assert (out / "train.txt").read_text().splitlines() == [x for x in src_lines if "broken" not in x]
    report = (out / "prepare_failed.txt").read_text()
    assert "a/broken.mp4: source:" in report and "train.txt:3: a/broken.mp4 0" in report
    assert not list(out.rglob("*.zelda-part*"))

    # re-run: nothing to do; a changed source is redone
    r = _zelda("data", "prepare", str(recipe), "--out", str(out), "--workers", "1", "--json")
    run = json.loads(r.stdout)["run"]
    assert run["skipped"] == 5 and run["prepared"] == 0 and run["failed"] == 0
    make_video(root / "a" / "v00.mp4", 30, size=(48, 64))
    r = _zelda("data", "prepare", str(recipe), "--out", str(out), "--workers", "1", "--json")
    assert json.loads(r.stdout)["run"]["prepared"] == 1
    _assert_copy(root / "a" / "v00.mp4", out / "a" / "v00.mp4")


def _run_in_slices(proc: subprocess.Popen, until: Callable[[], bool]) -> None:
    """Let the process group run 20 ms at a time (SIGCONT, sleep, SIGSTOP) until ``until()``
    holds, and leave it stopped: nothing can move between the check and the kill, however
    late this process is scheduled on a busy machine."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGSTOP)
        if until():
            return
        os.killpg(proc.pid, signal.SIGCONT)
        time.sleep(0.02)
    assert proc.poll() is None, "prepare finished before it could be killed"
    raise AssertionError("the state to kill prepare in never came in 120 s")


def test_prepare_resumes_after_kill_9(tmp_path: Path) -> None:
    root = tmp_path / "data"
    recipe = _dataset(root, 16, frames=30, size=(144, 176))
    # the third video in prepare's order is long: with one worker, the kill lands while its
    # copy is being written (two videos done, thirteen not started), whatever the machine
    big = "a/v04.mp4"
    make_video(root / big, 900, size=(144, 176))
    out = tmp_path / "prepared"
    part = Path(part_path(str(out / big)))
    cmd = [sys.executable, "-m", "zelda_core", "data", "prepare", str(recipe), "--out", str(out),
           "--workers", "1", "--short-side", "128", "--log-every", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    journal = out / ".zelda-prepare" / "journal-0-of-1.jsonl"
    try:
        _run_in_slices(proc, until=part.exists)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the command and its encoding workers
        proc.wait()
    assert journal.read_text().count("\n") == 2
    assert part.exists() and not (out / big).exists()  # a half-written copy, never counted
    assert not (out / "train.txt").exists()  # never looks usable while incomplete

    r = _zelda("data", "prepare", str(recipe), "--out", str(out), "--workers", "2",
               "--short-side", "128", "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["complete"] and m["totals"]["prepared"] == 16
    assert m["run"]["skipped"] == 2 and m["run"]["prepared"] == 14
    assert not list(out.rglob("*.zelda-part*")), "a temporary file survived"
    for rel in m["data_files"]:
        assert (out / rel).is_file()
    with open_video(str(out / big), decoder="pyav") as d:
        assert d.num_frames == 900 and min(d.height, d.width) == 128
    for n in (0, 1, 2, 3, 5, 6, 7, 8, 9):
        rel = f"{'ab'[n % 2]}/v{n:02d}.mp4"
        _assert_copy(root / rel, out / rel, short_side=128)
        with open_video(str(out / rel), decoder="pyav") as d:
            assert min(d.height, d.width) == 128


def test_prepare_shards_complete_together(tmp_path: Path) -> None:
    root = tmp_path / "data"
    recipe = _dataset(root, 5)
    out = tmp_path / "prepared"
    r0 = _zelda("data", "prepare", str(recipe), "--out", str(out), "--workers", "1",
                "--shard", "0/2", "--json")
    m0 = json.loads(r0.stdout)
    assert m0["run"]["videos"] == 3 and not m0["complete"] and m0["pending"] == 2
    assert not (out / "train.txt").exists()
    r1 = _zelda("data", "prepare", str(recipe), "--out", str(out), "--workers", "1",
                "--shard", "1/2", "--json")
    m1 = json.loads(r1.stdout)
    assert m1["run"]["videos"] == 2 and m1["complete"] and m1["totals"]["prepared"] == 5
    assert (out / "train.txt").read_text() == (root / "train.txt").read_text()
    bad = _zelda("data", "prepare", str(recipe), "--out", str(out), "--shard", "2/2")
    assert bad.returncode != 0 and "--shard" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("profile", ["compact", "copy"])
def test_other_profiles_are_exact(tmp_path: Path, profile: str) -> None:
    root = tmp_path / "data"
    # at 48x64 the synthetic frames (all changing) lose too much to P-frames at CRF 23
    recipe = _dataset(root, 2, frames=40, size=(144, 176))
    out = tmp_path / "prepared"
    r = _zelda("data", "prepare", str(recipe), "--out", str(out), "--workers", "1",
               "--profile", profile, "--splits", "train")
    assert r.returncode == 0, r.stderr
    _assert_copy(root / "a" / "v00.mp4", out / "a" / "v00.mp4")
    if profile == "copy":
        assert (out / "a" / "v00.mp4").read_bytes() != b""
        with open_video(str(out / "a" / "v00.mp4"), decoder="pyav") as d:
            assert d.info()["keyframe_interval"] > 1  # the source's packets, unchanged


MANIFEST = manifest()
CORPUS = sorted(k for k, v in MANIFEST.items() if "error" not in v)


@pytest.mark.slow
@pytest.mark.skipif(not CORPUS, reason=f"no decoder corpus at {shared_videos()}")
@pytest.mark.parametrize("name", CORPUS)
def test_corpus_copies_match_manifest(tmp_path: Path, name: str) -> None:
    """Every decodable corpus file, prepared to short side 256: the source's frame count
    and the MANIFEST thumbnails, frame by frame, closer to its own frame than to a
    neighbour's and within the decoder tests' tolerances: 2.0 at native size, 6.0 for
    resized frames (test_resize_in_conversion). A resized frame is scaled back to the
    source's size first, so its 16x16 cells cover the same pixels as the MANIFEST's
    (measured worst 2.03; without that, the cells' different borders alone cost 2.5-3.6
    even for the reader's own resized frames)."""
    from zelda_pyav.encode import PROFILES, prepare_video

    truth = MANIFEST[name]
    dst = tmp_path / Path(name).name
    prepare_video(str(shared_videos() / name), str(dst), PROFILES["random-access"], 256)
    thumbs = {int(i): np.asarray(t, dtype=np.float64) for i, t in truth["thumbs16"].items()}
    with open_video(str(dst), decoder="pyav") as d:
        assert d.num_frames == truth["frames"]
        assert d.fps == pytest.approx(truth["fps"], rel=1e-3)
        resized = (d.width, d.height) != (truth["width"], truth["height"])
        frames = d.get_frames(sorted(thumbs))
    tol = 6.0 if resized else 2.0
    for i, frame in zip(sorted(thumbs), frames):
        if resized:
            frame = _scaled(frame, truth["height"], truth["width"])
        own = np.abs(thumb16(frame) - thumbs[i]).mean()
        assert own <= tol, f"{name} frame {i}: thumbnail off by {own:.2f}"
        for j in (i - 1, i + 1):
            if j in thumbs and np.abs(thumbs[j] - thumbs[i]).mean() > 1.0:
                assert own < np.abs(thumb16(frame) - thumbs[j]).mean()


def _scaled(rgb: np.ndarray, h: int, w: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
    return F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)[0].permute(1, 2, 0).numpy()


def test_short_side_below_the_thumbnail_is_refused(tmp_path):
    """--short-side 8 used to record a NaN thumbnail difference as 0.0 (and leak a numpy
    warning); below 16 it is refused before anything is written."""
    recipe = _dataset(tmp_path / "src", 1)
    for side in ("8", "15", "-1"):
        r = _zelda("data", "prepare", str(recipe), "--out", str(tmp_path / "out"), "--short-side", side)
        assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
        assert "--short-side must be at least 16" in r.stderr and "Warning" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_thumbnails_of_tiny_frames_are_finite():
    """A native frame narrower than 16 pixels averages real pixels, never an empty cell."""
    import warnings

    from zelda_pyav.encode import thumb16 as prepare_thumb16

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (6, 10, 3), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        thumb = prepare_thumb16(frame)
    assert thumb.shape == (256,) and np.isfinite(thumb).all()
    assert thumb.min() >= 0 and thumb.max() <= 255
    big = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    assert np.allclose(prepare_thumb16(big), thumb16(big), atol=1e-9)  # the MANIFEST measure above 16


def test_prepare_copies_the_auto_detected_label_map(tmp_path: Path) -> None:
    """A split that names no label_map gets its class names from root/label_map.txt; the
    copy carries that file too, so a model trained on the copy names its classes."""
    from zelda_core._cli.main import main
    from zelda_core.api import build_dataset, load_recipe

    root = tmp_path / "data"
    for i in range(2):
        make_video(root / f"v{i}.mp4", 24, size=(48, 64))
    (root / "train.txt").write_text("v0.mp4 0\nv1.mp4 1\n")
    (root / "label_map.txt").write_text("typing\nrunning\n")
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[data]\nroot = "{root}"\n[data.train]\ntype = "video_list"\n'
                      'ann_file = "train.txt"\npipeline = []\n')
    assert build_dataset(load_recipe(str(recipe)), "train").classes == ["typing", "running"]
    assert main(["data", "prepare", str(recipe), "--out", str(tmp_path / "copy"),
                 "--workers", "1"]) == 0
    assert (tmp_path / "copy" / "label_map.txt").read_text() == "typing\nrunning\n"
    copy = load_recipe(str(recipe), [f'data.root="{tmp_path / "copy"}"'])
    assert build_dataset(copy, "train").classes == ["typing", "running"]
