"""Multi-label annotation lists ("path l1 l2 ..."): records, multi-hot labels through a real
DataLoader, errors naming file:line, and the engine filling ``multi_label`` into the model table."""

from __future__ import annotations

import copy

import pytest
import torch
from media import make_video
from zelda_datasets.video_list import VideoList

from zelda_core._data import build_dataloader
from zelda_core._engine.build import is_multi_label, model_table
from zelda_core._errors import DataError

pytestmark = pytest.mark.decoder_independent

PIPE = [{"type": "segment_sample", "clip_len": 2}, {"type": "decode"},
        {"type": "resize", "size": [16, 16]}, {"type": "format_shape"}, {"type": "pack"}]


def mlist(root, **kw):
    return VideoList("ann.txt", root=str(root), pipeline=copy.deepcopy(PIPE), decoder={"type": "pyav"},
                     prefix="v", multi_label=True, **kw)


@pytest.fixture
def three(tmp_path):
    for name in ("a b.mp4", "c.mp4", "d.mp4"):
        make_video(tmp_path / "v" / name, frames=6, pattern="index")
    return tmp_path


def test_multi_label_list_gives_multi_hot_batches(three):
    (three / "ann.txt").write_text("a b.mp4 0 2\nc.mp4 1\n# comment\nd.mp4 2 0 0\n")
    ds = mlist(three, num_classes=4)
    assert ds.multi_label and ds.classes == ["0", "1", "2", "3"]
    assert ds.records[0] == (str(three / "v" / "a b.mp4"), (0, 2))
    assert ds.labels() == [(0, 2), (1,), (0, 2)]
    recipe = {"seed": 0, "data": {"batch_size": 3, "workers": 1}}
    batch = next(iter(build_dataloader(recipe, "val", ds, shuffle=False)))
    assert batch["label"].dtype == torch.float32
    assert batch["label"].tolist() == [[1, 0, 1, 0], [0, 1, 0, 0], [1, 0, 1, 0]]
    assert batch["inputs"].shape[0] == 3


def test_classes_implied_from_the_largest_label(three):
    (three / "ann.txt").write_text("a b.mp4 0 2\nc.mp4 1\n")
    assert mlist(three).classes == ["0", "1", "2"]


def test_bad_multi_label_lines_name_file_and_line(three):
    ann = three / "ann.txt"
    ann.write_text("c.mp4 0 1\n"
                   "d.mp4\n"           # 2: no label
                   "c.mp4 1 x\n"       # 3: not an integer
                   "d.mp4 0 5\n"       # 4: outside num_classes
                   "c.mp4 1\n")        # 5: listed again with other labels
    with pytest.raises(DataError) as info:
        mlist(three, num_classes=3)
    msg = str(info.value)
    assert "4 problems" in msg
    assert f"{ann}:2: expected 'relative/path.mp4 label1 label2 ...'" in msg
    assert f"{ann}:3: label 'x' is not an integer" in msg
    assert f"{ann}:4: label 5 is outside [0, 3)" in msg
    assert f"{ann}:5: video {three / 'v' / 'c.mp4'} has labels 1 here but 0 1 at {ann}:1" in msg


def test_engine_fills_multi_label_where_the_factory_takes_it():
    # the bundled factories: cls_head takes num_classes and multi_label, recognizer and
    # conv3d_tiny neither (the recognizer learns both from its head)
    data = {"model": {"type": "recognizer", "head": {"type": "cls_head"},
                      "backbone": {"type": "conv3d_tiny"}}}
    table = model_table(data, 4, multi_label=True)
    assert table["head"] == {"type": "cls_head", "num_classes": 4, "multi_label": True}
    assert table["backbone"] == {"type": "conv3d_tiny"}
    assert "multi_label" not in table and is_multi_label(table)
    single = model_table(data, 4)
    assert "multi_label" not in single["head"] and not is_multi_label(single)


def test_data_check_counts_every_label_of_a_multi_label_list(three, capsys):
    import json

    from zelda_core._cli.main import main

    (three / "ann.txt").write_text("a b.mp4 0 2\nc.mp4 1\nd.mp4 2\n")
    recipe = three / "r.toml"
    recipe.write_text(f"""
[data]
root = "{three}"
decoder = "pyav"
[data.train]
type = "video_list"
ann_file = "ann.txt"
prefix = "v"
multi_label = true
pipeline = [{{ type = "segment_sample", clip_len = 2 }}, {{ type = "decode" }},
            {{ type = "format_shape" }}, {{ type = "pack" }}]
""")
    assert main(["data", "check", str(recipe), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["splits"]["train"]["classes"] == {"0": 1, "1": 1, "2": 2}
