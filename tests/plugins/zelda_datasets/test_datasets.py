"""Datasets: annotation parsing, validation errors with file:line, video_folder, build_dataset."""

from __future__ import annotations

import copy

import pytest
import torch
from media import make_corrupt, make_video
from pipeline_helpers import make_dataset
from zelda_datasets.video_folder import VideoFolder
from zelda_datasets.video_list import VideoList

from zelda_core._data import build_dataset
from zelda_core._errors import DataError, RecipeError

PIPE = [{"type": "segment_sample", "clip_len": 4}, {"type": "decode"},
        {"type": "resize", "size": [32, 32]}, {"type": "format_shape"}, {"type": "pack"}]


def vlist(root, ann="ann.txt", **kw):
    return VideoList(ann, root=str(root), pipeline=PIPE, decoder={"type": "pyav"}, **kw)


def test_video_list_parses_spaces_comments_blanks(tmp_path):
    make_video(tmp_path / "videos" / "a b c.mp4", frames=10, pattern="index")
    make_video(tmp_path / "videos" / "d.mp4", frames=10, pattern="index")
    (tmp_path / "ann.txt").write_text(
        "# a comment\n\na b c.mp4 1\n   \nd.mp4\t0\n  # indented comment\n")
    ds = vlist(tmp_path, prefix="videos")
    assert len(ds) == 2
    assert ds.records[0] == (str(tmp_path / "videos" / "a b c.mp4"), 1)
    assert ds.labels() == [1, 0]
    assert ds.classes == ["0", "1"]
    assert ds.sources == [f"{tmp_path / 'ann.txt'}:3", f"{tmp_path / 'ann.txt'}:5"]


def test_video_list_lists_every_bad_line(tmp_path):
    make_video(tmp_path / "v" / "ok.mp4", frames=10, pattern="index")
    (tmp_path / "labels.txt").write_text("walk\nrun\n")
    (tmp_path / "ann.txt").write_text(
        "ok.mp4 0\n"
        "nolabel.mp4\n"             # 2 malformed
        "ok.mp4 one\n"              # 3 label not an int
        "ok.mp4 2\n"                # 4 out of range
        "missing.mp4 1\n"           # 5 missing file
        "ok.mp4 -1\n")              # 6 negative
    with pytest.raises(DataError) as info:
        vlist(tmp_path, prefix="v", label_map="labels.txt")
    msg = str(info.value)
    ann = tmp_path / "ann.txt"
    assert "5 problems" in msg
    for line, text in [(2, "expected 'relative/path.mp4 label'"), (3, "label 'one' is not an integer"),
                       (4, "label 2 is outside [0, 2)"), (5, "video not found"),
                       (6, "label -1 is outside [0, 2)")]:
        assert f"{ann}:{line}: {text}" in msg
    assert f"{ann}:1:" not in msg
    assert msg.index(f"{ann}:2:") < msg.index(f"{ann}:6:")  # in line order


def test_video_list_error_limit(tmp_path):
    (tmp_path / "ann.txt").write_text("".join(f"v{i}.mp4 0\n" for i in range(50)))
    with pytest.raises(DataError) as info:
        vlist(tmp_path)
    msg = str(info.value)
    assert "50 problems" in msg and "... and 30 more" in msg and msg.count("video not found") == 20


def test_video_list_num_classes_and_label_map(tmp_path):
    make_dataset(tmp_path, {"a.mp4": 0, "b.mp4": 2}, frames=8)
    assert vlist(tmp_path, prefix="videos", num_classes=5).classes == ["0", "1", "2", "3", "4"]
    with pytest.raises(DataError, match="label 2 is outside \\[0, 2\\)"):
        vlist(tmp_path, prefix="videos", num_classes=2)
    (tmp_path / "map.txt").write_text("a\n\nc\n")
    with pytest.raises(DataError, match="map.txt:2: blank line"):
        vlist(tmp_path, prefix="videos", label_map="map.txt")
    with pytest.raises(DataError, match="label map not found"):
        vlist(tmp_path, prefix="videos", label_map="nope.txt")


def test_video_list_missing_annotation_file(tmp_path):
    with pytest.raises(DataError, match="annotation file not found: .*nope.txt"):
        vlist(tmp_path, ann="nope.txt")


def test_video_list_getitem_runs_pipeline(tmp_path, decoder_name):
    make_dataset(tmp_path, {"a.mp4": 0, "b.mp4": 1}, frames=12)
    ds = VideoList("ann.txt", root=str(tmp_path), prefix="videos", pipeline=PIPE,
                   decoder={"type": decoder_name})
    out = ds[1]
    assert tuple(out["inputs"].shape) == (1, 3, 4, 32, 32) and out["inputs"].dtype == torch.uint8
    assert out["label"] == 1 and out["skipped"] == [] and out["meta"]["index"] == 1
    with pytest.raises(IndexError):
        ds[2]


def test_video_list_raise_names_file_and_line(tmp_path, decoder_name):
    make_dataset(tmp_path, {"a.mp4": 0}, frames=12)
    make_corrupt(tmp_path / "videos" / "bad.mp4")
    (tmp_path / "ann.txt").write_text("a.mp4 0\nbad.mp4 1\n")
    ds = VideoList("ann.txt", root=str(tmp_path), prefix="videos", pipeline=PIPE,
                   decoder={"type": decoder_name})
    with pytest.raises(DataError, match=r"bad.mp4 \(.*ann.txt:2, sample 1\).*on_error"):
        ds[1]


def test_video_folder(tmp_path, decoder_name):
    for cls, n in (("walk", 2), ("run", 1)):
        for i in range(n):
            make_video(tmp_path / "train" / cls / f"{cls}{i}.mp4", frames=8, pattern="index")
    (tmp_path / "train" / "run" / "notes.txt").write_text("not a video")
    (tmp_path / "train" / ".hidden").mkdir()
    ds = VideoFolder(root=str(tmp_path), prefix="train", pipeline=PIPE,
                     decoder={"type": decoder_name})
    assert ds.classes == ["run", "walk"]
    assert [(p.rsplit("/", 2)[-2], label) for p, label in ds.records] == [
        ("run", 0), ("walk", 1), ("walk", 1)]
    assert ds[0]["label"] == 0
    with pytest.raises(DataError, match="video folder not found"):
        VideoFolder(root=str(tmp_path), prefix="val", pipeline=PIPE)
    flat = VideoFolder(root=str(tmp_path / "train"), prefix="walk", pipeline=PIPE, flat=True)
    assert flat.classes == ["walk"] and flat.labels() == [0, 0]


def recipe_for(root, **data):
    return {"seed": 3, "data": {"root": str(root), "decoder": "pyav", **data,
                                "train": {"type": "video_list", "ann_file": "ann.txt",
                                          "prefix": "videos", "pipeline": copy.deepcopy(PIPE)}}}


def test_build_dataset_from_recipe(tmp_path):
    make_dataset(tmp_path, {"a.mp4": 0, "b.mp4": 1}, frames=8)
    ds = build_dataset(recipe_for(tmp_path, decoder_options={"threads": 1}, on_error="skip"),
                       "train")
    assert isinstance(ds, VideoList) and len(ds) == 2
    assert ds.seed == 3 and ds.on_error == "skip" and not ds.test_mode
    assert ds.decoder == {"type": "pyav", "threads": 1}
    assert ds.pipeline.names[1] == "decode+resize"


def test_build_dataset_recipe_errors(tmp_path):
    make_dataset(tmp_path, {"a.mp4": 0}, frames=8)
    with pytest.raises(RecipeError, match="no \\[data.val\\] table.*train"):
        build_dataset(recipe_for(tmp_path), "val")
    recipe = recipe_for(tmp_path)
    recipe["data"]["train"]["pipeline"][3] = {"type": "format_shap"}
    with pytest.raises(RecipeError, match=r"data.train.pipeline\[3\].*format_shape"):
        build_dataset(recipe, "train", recipe_file="r.toml")
    recipe = recipe_for(tmp_path)
    recipe["data"]["train"]["ann_fil"] = "x"
    with pytest.raises(RecipeError, match="unknown parameter 'ann_fil'"):
        build_dataset(recipe, "train")


def test_shared_kinetics_tiny(shared_dir):
    root = shared_dir / "data" / "kinetics2_tiny"
    recipe = {"data": {"root": str(root), "train": {
        "type": "video_list", "ann_file": "kinetics_tiny_train_video.txt", "prefix": "train",
        "label_map": "label_map.txt", "pipeline": PIPE}}}
    ds = build_dataset(recipe, "train")
    assert len(ds) == 49 and ds.classes == ["doing exercises", "typing"]


# -- zelda data check --------------------------------------------------------------------------

def write_recipe(path, root, ann="ann.txt", decoder="pyav", clip_len=4):
    path.write_text(f"""
seed = 0
[data]
root = "{root}"
decoder = "{decoder}"
[data.train]
type = "video_list"
ann_file = "{ann}"
prefix = "videos"
pipeline = [{{ type = "sample_frames", clip_len = {clip_len}, frame_interval = 2 }},
            {{ type = "decode" }}, {{ type = "format_shape" }}, {{ type = "pack" }}]
""")
    return path


def test_data_check_ok_and_histogram(tmp_path, decoder_name, capsys):
    import json

    from zelda_core._cli.main import main

    make_dataset(tmp_path, {"a.mp4": 0, "b.mp4": 1, "c.mp4": 1}, frames=10)
    recipe = write_recipe(tmp_path / "r.toml", tmp_path, decoder=decoder_name)
    assert main(["data", "check", str(recipe)]) == 0
    out = capsys.readouterr().out
    assert "data.train: 3 videos" in out and "ok" in out
    assert main(["data", "check", str(recipe), "--json", "--split", "train"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["splits"]["train"]["classes"] == {"0": 1, "1": 2}


def test_data_check_reports_unreadable_and_short(tmp_path, decoder_name, capsys):
    import json

    from zelda_core._cli.main import main

    make_dataset(tmp_path, {"a.mp4": 0}, frames=10)
    make_video(tmp_path / "videos" / "short.mp4", frames=3, pattern="index")
    make_corrupt(tmp_path / "videos" / "bad.mp4")
    (tmp_path / "ann.txt").write_text("a.mp4 0\nshort.mp4 0\nbad.mp4 0\n")
    recipe = write_recipe(tmp_path / "r.toml", tmp_path, decoder=decoder_name)
    assert main(["data", "check", str(recipe), "--workers", "2"]) == 1
    out = capsys.readouterr().out
    assert "unreadable:" in out and "ann.txt:3" in out and "bad.mp4" in out
    assert "too short:" in out and "short.mp4: 3 frames, a clip needs 7" in out
    assert main(["data", "check", str(recipe), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)["splits"]["train"]
    assert [u["file"].rsplit("/", 1)[-1] for u in report["unreadable"]] == ["bad.mp4"]
    assert report["too_short"][0]["frames"] == 3


def test_data_check_annotation_errors(tmp_path, capsys):
    from zelda_core._cli.main import main

    (tmp_path / "videos").mkdir()
    (tmp_path / "ann.txt").write_text("missing.mp4 0\n")
    recipe = write_recipe(tmp_path / "r.toml", tmp_path)
    assert main(["data", "check", str(recipe)]) == 1
    assert "ann.txt:1: video not found" in capsys.readouterr().out


# --- a mistyped label never changes the class count (issue 22, item 7) --------------------

@pytest.fixture
def three_videos(tmp_path):
    make_dataset(tmp_path, {"a.mp4": 0, "b.mp4": 1, "c.mp4": 1}, frames=8)
    return tmp_path


def test_a_label_outside_the_found_label_map_is_an_error(three_videos):
    """label_map.txt in root names 2 classes: 'c.mp4 11' used to drop the map and make 12."""
    (three_videos / "label_map.txt").write_text("walk\nrun\n")
    assert vlist(three_videos, prefix="videos").classes == ["walk", "run"]
    (three_videos / "ann.txt").write_text("a.mp4 0\nb.mp4 1\nc.mp4 11\n")
    with pytest.raises(DataError) as info:
        vlist(three_videos, prefix="videos")
    assert f"{three_videos / 'ann.txt'}:3: label 11 is outside [0, 2)" in str(info.value)
    assert "label_map.txt names 2 classes" in str(info.value)
    # num_classes says the list does not use the map: then the labels are checked against it
    assert len(vlist(three_videos, prefix="videos", num_classes=12).classes) == 12


def test_labels_far_beyond_the_distinct_labels_are_flagged(three_videos):
    ann = three_videos / "ann.txt"
    ann.write_text("a.mp4 0\nb.mp4 1\nc.mp4 11\n")  # 3 distinct labels: 11 >= 6
    with pytest.raises(DataError, match=rf"{ann}:3: label 11 is far beyond the 3 distinct labels"):
        vlist(three_videos, prefix="videos")
    ann.write_text("a.mp4 0\nb.mp4 1\nc.mp4 3\n")  # 3 < 6: a sparse list is fine
    assert vlist(three_videos, prefix="videos").classes == ["0", "1", "2", "3"]


HUGE_LABEL_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # a regression fails, not the machine
from zelda_datasets.video_list import VideoList
from zelda_core._data.dataset import collecting_problems
from zelda_core._errors import DataError
try:
    VideoList("ann.txt", root=sys.argv[1], prefix="videos", pipeline=[], decoder={"type": "pyav"})
except DataError as exc:
    print("refused:", exc)
with collecting_problems() as problems:  # zelda data check goes on past the problem
    ds = VideoList("ann.txt", root=sys.argv[1], prefix="videos", pipeline=[], decoder={"type": "pyav"})
print("classes:", len(ds.classes), "problems:", len(problems))
"""


def test_a_huge_label_is_refused_without_building_its_classes(three_videos):
    """10**23 used to build a list of 10**23 class names (memory grew at 500 MB/s): in a
    child process capped at 2 GiB of address space, so a regression fails quickly."""
    import subprocess
    import sys

    (three_videos / "ann.txt").write_text(f"a.mp4 0\nb.mp4 {10**23}\n")
    out = subprocess.run([sys.executable, "-c", HUGE_LABEL_CHILD, str(three_videos)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ann.txt:2: label 100000000000000000000000 is far beyond" in out.stdout
    assert "classes: 1 problems: 1" in out.stdout


def test_conflicting_duplicate_lines_are_flagged(three_videos):
    ann = three_videos / "ann.txt"
    ann.write_text("a.mp4 0\nb.mp4 1\n./a.mp4 1\nb.mp4 1\n")
    with pytest.raises(DataError) as info:
        vlist(three_videos, prefix="videos")
    msg = str(info.value)
    assert f"{ann}:3: video " in msg and f"has label 1 here but 0 at {ann}:1" in msg
    assert "1 problem:" in msg  # b.mp4 twice with the same label is no conflict
