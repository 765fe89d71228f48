"""``zelda data check`` in one pass, and the list-file rules (BOM, strict labels, encodings)."""

from __future__ import annotations

import json
import os
import re

import pytest
from fault_fixtures import make_corrupt_midstream, make_noise_video, make_truncated
from media import make_corrupt

from zelda_core._cli.main import main
from zelda_core._errors import DataError


def write_recipe(path, root, decoder="pyav", on_error="raise", label_map=False):
    lm = 'label_map = "labels.txt"\n' if label_map else ""
    path.write_text(f"""
seed = 0
[data]
root = "{root}"
decoder = "{decoder}"
on_error = "{on_error}"
[data.train]
type = "video_list"
ann_file = "ann.txt"
prefix = "videos"
{lm}pipeline = [{{ type = "sample_frames", clip_len = 4, frame_interval = 2 }},
            {{ type = "decode" }}, {{ type = "format_shape" }}, {{ type = "pack" }}]
""")
    return path


@pytest.fixture
def damaged(tmp_path):
    """good, missing, corrupt (not a video), truncated, corrupt mid-stream, and a bad line."""
    v = tmp_path / "videos"
    make_noise_video(v / "good.mp4", frames=20)
    make_corrupt(v / "corrupt.mp4")
    make_truncated(v / "truncated.mp4")
    make_corrupt_midstream(v / "midstream.mp4")
    (tmp_path / "ann.txt").write_text(
        "good.mp4 0\nmissing.mp4 1\ncorrupt.mp4 1\ntruncated.mp4 0\nmidstream.mp4 1\nbad.mp4 1_0\n")
    return tmp_path


def test_one_pass_names_every_bad_file_with_its_reason(damaged, decoder_name, capsys):
    recipe = write_recipe(damaged / "r.toml", damaged, decoder=decoder_name)
    assert main(["data", "check", str(recipe)]) == 1
    out = capsys.readouterr().out
    ann = damaged / "ann.txt"
    assert f"annotation: {ann}:6: label '1_0' is not an integer" in out
    assert f"missing: {ann}:2: video not found: {damaged / 'videos' / 'missing.mp4'}" in out
    assert f"unreadable: {ann}:3: {damaged / 'videos' / 'corrupt.mp4'}: " in out
    assert f"truncated: {ann}:4: {damaged / 'videos' / 'truncated.mp4'}: " in out
    reason = out.split("truncated:")[1].splitlines()[0]
    assert "does not decode" in reason or "cut short" in reason  # the decoder may see it at open
    assert "midstream" not in out  # its first and last frames decode: the quick mode misses it
    assert "      2   40.0%  0" in out and "      3   60.0%  1" in out  # labels of parsed lines
    assert "quick check: each video opened and its first and last frame decoded" in out
    assert "--full decodes every frame" in out
    assert "5 problem(s)" not in out and "4 problem(s)" in out
    assert out.rstrip().endswith("problems found")


def test_full_mode_finds_damage_mid_stream(damaged, decoder_name, capsys):
    recipe = write_recipe(damaged / "r.toml", damaged, decoder=decoder_name)
    assert main(["data", "check", str(recipe), "--full", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    train = report["splits"]["train"]
    names = {k: [u["file"].rsplit("/", 1)[-1] for u in train[k]]
             for k in ("missing", "unreadable", "truncated", "corrupt")}
    assert names == {"missing": ["missing.mp4"], "unreadable": ["corrupt.mp4"],
                     "truncated": ["truncated.mp4"], "corrupt": ["midstream.mp4"]}
    assert "later frames do" in train["corrupt"][0]["reason"]
    assert train["annotation"] == [f"{damaged / 'ann.txt'}:6: label '1_0' is not an integer "
                                   "(line 'bad.mp4 1_0'; expected 'relative/path.mp4 label')"]
    assert report["full"] and train["frames_decoded"] < train["frames"]
    # the good video alone passes the full check, and the output says what was covered
    (damaged / "ann.txt").write_text("good.mp4 0\n")
    assert main(["data", "check", str(recipe), "--full", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "full check: every frame decoded (20 of 20 frames)" in out


def test_check_runs_under_on_error_skip_too(damaged, capsys):
    recipe = write_recipe(damaged / "r.toml", damaged, on_error="skip")
    assert main(["data", "check", str(recipe)]) == 1
    out = capsys.readouterr().out
    assert "missing: " in out and "unreadable: " in out and "truncated: " in out


# -- list files --------------------------------------------------------------------------------

def test_list_files_drop_a_bom_and_take_only_plain_digits(tmp_path):
    from zelda_datasets.video_list import VideoList

    make_noise_video(tmp_path / "videos" / "a.mp4", frames=10)
    (tmp_path / "ann.txt").write_bytes("\ufeffa.mp4 1\n".encode())
    (tmp_path / "labels.txt").write_bytes("\ufeffwalk\nrun\n".encode())
    ds = VideoList("ann.txt", root=str(tmp_path), prefix="videos", pipeline=[], label_map="labels.txt")
    assert ds.records == [(str(tmp_path / "videos" / "a.mp4"), 1)]
    assert ds.classes == ["walk", "run"]
    for label in ("1_0", "+1", "\u0661", "1.0"):  # int() takes the first three
        (tmp_path / "ann.txt").write_text(f"a.mp4 {label}\n")
        with pytest.raises(DataError, match=re.escape(f"ann.txt:1: label {label!r} is not an integer")):
            VideoList("ann.txt", root=str(tmp_path), prefix="videos", pipeline=[])


def test_non_utf8_list_files_name_the_line(tmp_path, capsys):
    make_noise_video(tmp_path / "videos" / "a.mp4", frames=10)
    (tmp_path / "ann.txt").write_bytes(b"a.mp4 0\na.mp4 0\ncaf\xe9.mp4 0\n")
    (tmp_path / "labels.txt").write_text("walk\n")
    recipe = write_recipe(tmp_path / "r.toml", tmp_path, label_map=True)
    assert main(["data", "check", str(recipe)]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path / 'ann.txt'}:3: annotation file is not UTF-8 text (byte b'\\xe9' at column 4)" in out
    (tmp_path / "ann.txt").write_text("a.mp4 0\n")
    (tmp_path / "labels.txt").write_bytes(b"\xef\xbb\xbfwalk\n\xff\n")
    assert main(["run", str(recipe)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'labels.txt'}:2: label map is not UTF-8 text" in err
    assert "Traceback" not in err


def test_data_check_reports_every_label_problem(tmp_path):
    """The real CLI: a label outside the found label_map.txt, a conflicting duplicate and a
    label far out are each reported at file:line (``data check`` used to say ok, with 12
    classes), and the exit status is 1. (A 10**23 label is tested in a memory-capped child
    in tests/plugins/zelda_datasets: here, a regression would eat the machine's memory.)"""
    import subprocess
    import sys

    v = tmp_path / "videos"
    for name in ("a", "b", "c"):
        make_noise_video(v / f"{name}.mp4", frames=12)
    (tmp_path / "label_map.txt").write_text("walk\nrun\n")
    (tmp_path / "ann.txt").write_text("a.mp4 0\nb.mp4 1\nc.mp4 11\nb.mp4 0\na.mp4 99\n")
    recipe = write_recipe(tmp_path / "r.toml", tmp_path)
    out = subprocess.run([sys.executable, "-m", "zelda_core", "data", "check", str(recipe)],
                         capture_output=True, text=True, timeout=300)
    ann = tmp_path / "ann.txt"
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert f"{ann}:3: label 11 is outside [0, 2)" in out.stdout
    assert f"{ann}:4: video {v / 'b.mp4'} has label 0 here but 1 at {ann}:2" in out.stdout
    assert f"{ann}:5: label 99 is outside [0, 2)" in out.stdout
    assert "3 problem(s)" in out.stdout and "problems found" in out.stdout
    assert "walk" in out.stdout and "run" in out.stdout  # the map's names, not "0".."11"


def test_val_labels_beyond_the_trained_classes_are_refused(tmp_path):
    """Train labels 0/1, val labels 0/2, no label map: run used to train a 2-class model and
    score val label 2 as always wrong ("top5 0.5" with 2 classes); data check said ok."""
    import subprocess
    import sys

    from engine_util import make_dataset, small_recipe

    root = make_dataset(tmp_path / "data")
    (root / "label_map.txt").unlink()
    (root / "kinetics_tiny_val_video.txt").write_text("val0.mp4 0\nval1.mp4 2\n")
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "work", epochs=1)
    recipe.write_text(recipe.read_text().replace('label_map = "label_map.txt"\n', ""))

    def zelda(*args):
        return subprocess.run([sys.executable, "-m", "zelda_core", *args], capture_output=True,
                              text=True, timeout=300, env={**os.environ, "ZELDA_PLOTS": "0"})

    check = zelda("data", "check", str(recipe))
    assert check.returncode == 1 and "problems found" in check.stdout
    assert "data.val has labels up to 2, but data.train has 2 classes" in check.stdout
    run = zelda("run", str(recipe))
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "data.val has labels up to 2, but data.train has 2 classes" in run.stderr
    assert not (tmp_path / "work" / "checkpoints").exists()
