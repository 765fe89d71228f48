"""``video_csv``: CSV/TSV tables with a header, named or integer labels, multi-label cells,
time spans cut at sampling, Kinetics' official table, and errors naming file:line."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from media import STEP, make_video
from zelda_datasets.video_csv import VideoCsv

from zelda_core._data import build_dataset
from zelda_core._errors import DataError, RecipeError

PIPE = [{"type": "segment_sample", "clip_len": 2}, {"type": "decode"},
        {"type": "resize", "size": [16, 16]}, {"type": "format_shape"}, {"type": "pack"}]


def table(root, text, name="ann.csv", **kw):
    (root / name).write_text(text)
    return VideoCsv(name, root=str(root), pipeline=copy.deepcopy(kw.pop("pipeline", PIPE)),
                    decoder={"type": "pyav"}, **kw)


@pytest.fixture
def videos(tmp_path):
    for name in ("a.mp4", "b c.mp4", "d.mp4"):
        make_video(tmp_path / "v" / name, frames=6, pattern="index")
    return tmp_path


@pytest.mark.decoder_independent
def test_class_names_are_sorted_and_columns_named(videos):
    ds = table(videos, 'clip,note,action\nv/a.mp4,x,walk\n"v/b c.mp4","a, b",run\n\nv/d.mp4,,jump\n',
               path_column="clip", label_column="action")
    assert ds.classes == ["jump", "run", "walk"]
    assert ds.records == [(str(videos / "v" / "a.mp4"), 2), (str(videos / "v" / "b c.mp4"), 1),
                          (str(videos / "v" / "d.mp4"), 0)]
    assert ds.sources == [f"{videos / 'ann.csv'}:{n}" for n in (2, 3, 5)]
    assert ds[1]["label"] == 1 and ds[1]["inputs"].shape[2] == 2


@pytest.mark.decoder_independent
def test_tsv_integer_labels_label_map_and_multi_label(videos):
    ds = table(videos, "path\tlabel\na.mp4\t1\nd.mp4\t0\n", name="ann.tsv", prefix="v")
    assert ds.classes == ["0", "1"] and ds.labels() == [1, 0]
    (videos / "map.txt").write_text("walk\nrun\njump\n")
    ds = table(videos, "path,label\na.mp4,run\nd.mp4,walk\n", prefix="v", label_map="map.txt")
    assert ds.classes == ["walk", "run", "jump"] and ds.labels() == [1, 0]  # the map's order
    ds = table(videos, "path,label\na.mp4,run;walk\nd.mp4, jump \n", prefix="v", multi_label=True)
    assert ds.multi_label and ds.classes == ["jump", "run", "walk"]
    assert ds.labels() == [(1, 2), (0,)]
    assert ds[0]["label"].tolist() == [0.0, 1.0, 1.0]


@pytest.mark.decoder_independent
def test_val_split_adopts_the_training_classes(videos):
    val = table(videos, "path,label\na.mp4,walk\nd.mp4,jump\n", prefix="v")
    assert val.classes == ["jump", "walk"]
    val.adopt_classes(["jump", "run", "walk"])
    assert val.classes == ["jump", "run", "walk"] and val.labels() == [2, 0]
    other = table(videos, "path,label\na.mp4,swim\nd.mp4,jump\n", prefix="v")
    with pytest.raises(DataError, match=r"ann.csv:2: class 'swim' is not one of the model's 3 classes"):
        other.adopt_classes(["jump", "run", "walk"])


@pytest.mark.decoder_independent
def test_bad_rows_are_listed_by_file_and_line(videos):
    ann = videos / "ann.csv"
    (videos / "map.txt").write_text("walk\nrun\n")
    with pytest.raises(DataError) as info:
        table(videos, "path,label,start,end\n"
                      "a.mp4,walk,0,1\n"
                      "a.mp4,walk\n"           # 3: field count
                      "a.mp4,,0,1\n"           # 4: no label
                      "a.mp4,fly,0,1\n"        # 5: not in the map
                      "gone.mp4,run,0,1\n"     # 6: missing video
                      "a.mp4,run,x,1\n"        # 7: bad start
                      "a.mp4,run,2,1\n",       # 8: end before start
              prefix="v", label_map="map.txt", start_column="start", end_column="end")
    msg = str(info.value)
    assert "6 problems" in msg
    for line, text in [(3, "2 fields, the header has 4"), (4, "no label in column 'label'"),
                       (5, "class 'fly' is not in the label map"), (6, "video not found"),
                       (7, "start 'x' is not a number of seconds"), (8, "end 1 is not after start 2")]:
        assert f"{ann}:{line}: {text}" in msg
    with pytest.raises(DataError, match=r"ann.csv:1: path_column names column 'path', but the header has 'clip', 'label'"):
        table(videos, "clip,label\na.mp4,0\n", prefix="v")
    with pytest.raises(DataError, match=r"ann.csv:3: label 7 is far beyond the 2 distinct labels.*below twice that, 4\); a typo"):
        table(videos, "path,label\na.mp4,0\nd.mp4,7\n", prefix="v")
    with pytest.raises(ValueError, match="names no column"):
        table(videos, "path,label\na.mp4,0\n", prefix="v", path_template="x.mp4")


def test_kinetics_official_table_with_one_recipe_table(tmp_path, decoder_name):
    """label,youtube_id,time_start,time_end,split: files named by youtube_id, the clip
    [time_start, time_end) cut from the full video at sampling."""
    for yid in ("-abc_123", "0042"):  # a leading '-' and zeros stay as written
        make_video(tmp_path / "videos" / f"{yid}.mp4", frames=30, fps=10, pattern="index")
    (tmp_path / "train.csv").write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "air drumming,-abc_123,1,2,train\n"
        "abseiling,0042,0.5,1.3,train\n")
    recipe = {"seed": 0, "data": {"root": str(tmp_path), "decoder": decoder_name, "train": {
        "type": "video_csv", "ann_file": "train.csv", "prefix": "videos",
        "path_template": "{youtube_id}.mp4", "label_column": "label",
        "start_column": "time_start", "end_column": "time_end",
        "pipeline": [{"type": "sample_frames", "clip_len": 10, "test_mode": True},
                     {"type": "decode"}, {"type": "format_shape"}, {"type": "pack"}]}}}
    ds = build_dataset(recipe, "train")
    assert ds.classes == ["abseiling", "air drumming"] and ds.labels() == [1, 0]
    assert ds.spans == [(1.0, 2.0), (0.5, 1.3)]

    def frames(i):
        x = ds[i]["inputs"].numpy()[0]  # (C, T, H, W)
        return [int(round(float(x[:, t].mean()) / STEP)) for t in range(x.shape[1])]

    assert frames(0) == list(range(10, 20))  # seconds 1-2 at 10 fps; nothing re-encoded
    assert frames(1) == [5, 6, 7, 8, 9, 10, 11, 12, 5, 6]  # 8 frames, looped as sample_frames does
    assert np.array_equal(ds[0]["inputs"], ds[0]["inputs"])


@pytest.mark.decoder_independent
def test_a_span_past_the_video_end_names_the_video(tmp_path):
    make_video(tmp_path / "v" / "a.mp4", frames=10, fps=10, pattern="index")
    ds = table(tmp_path, "path,label,s\na.mp4,0,5\n", prefix="v", start_column="s")
    with pytest.raises(DataError, match=r"a.mp4 \(.*ann.csv:2, sample 0\): the span 5-end s holds no frame"):
        ds[0]


@pytest.mark.decoder_independent
def test_recipe_checks_video_csv_parameters(videos):
    recipe = {"data": {"root": str(videos), "train": {"type": "video_csv", "ann_file": "ann.csv",
                                                      "path_colum": "x", "pipeline": PIPE}}}
    with pytest.raises(RecipeError, match="unknown parameter 'path_colum'"):
        build_dataset(recipe, "train")
