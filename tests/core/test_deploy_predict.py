"""zelda predict: the docs' plain-Python ONNX example equals zelda, folders with a corrupt
video, sliding windows over two joined kinetics2_tiny clips, class names."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from decoder_fixtures import make_video as make_h264
from deploy_helpers import REPO, zelda
from engine_util import make_video
from extras import need


def _jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _docs_example() -> str:
    doc = (REPO / "docs/deploy.md").read_text()
    m = re.search(r"<!-- example: onnx_predict.py -->\n```python\n(.*?)```", doc, re.S)
    assert m, "docs/deploy.md lost its marked onnx_predict.py example"
    return m.group(1)


def test_docs_onnx_example_equals_zelda_predict(tiny_run, tmp_path):
    need("onnxruntime", "export")
    code = _docs_example()
    assert len(code.strip().splitlines()) <= 30 and "zelda" not in code and "torch" not in code
    script = tmp_path / "onnx_predict.py"
    script.write_text(code)
    onnx_file = tmp_path / "m.onnx"
    r = zelda("export", str(tiny_run["ckpt"]), "-f", "onnx", "-o", str(onnx_file))
    assert r.returncode == 0, r.stderr
    # H.264 with B-frames (decode order != display order), 120x160 (the resize is real)
    video = make_h264(tmp_path / "clip.mp4", 60, size=(120, 160))
    plain = subprocess.run([sys.executable, str(script), str(onnx_file), str(video)],
                           capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr
    ours = json.loads(plain.stdout.strip().splitlines()[-1])
    assert set(ours) == {"dark", "bright"}
    for model in (tiny_run["ckpt"], onnx_file):  # the PyTorch model, and the file itself
        r = zelda("predict", str(model), str(video), "--format", "jsonl", "--top-k", "2",
                  "--workers", "0")
        assert r.returncode == 0, r.stderr
        (rec,) = _jsonl(r.stdout)
        got = {p["label"]: p["probability"] for p in rec["predictions"]}
        assert got == pytest.approx(ours, abs=1e-4), (model, got, ours)


def test_folder_with_corrupt_videos_reports_them_and_predicts_the_rest(tiny_run, tmp_path):
    folder = tmp_path / "videos"
    (folder / "sub").mkdir(parents=True)
    make_video(folder / "a.mp4")
    make_video(folder / "sub" / "b.mp4", pattern="bright")
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    good = make_h264(tmp_path / "whole.mp4", 40)
    (folder / "truncated.mp4").write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    (folder / "notes.txt").write_text("not a video\n")
    r = zelda("predict", str(tiny_run["ckpt"]), str(folder), "--format", "jsonl", "--workers", "1",
              "--batch-size", "2")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    recs = {Path(x["video"]).name: x for x in _jsonl(r.stdout)}
    assert set(recs) == {"a.mp4", "b.mp4", "broken.mp4", "truncated.mp4"}
    assert recs["a.mp4"]["type"] == recs["b.mp4"]["type"] == "video"
    assert recs["a.mp4"]["predictions"][0]["label"] in ("dark", "bright")
    for bad in ("broken.mp4", "truncated.mp4"):
        assert recs[bad]["type"] == "error" and recs[bad]["error"]
        assert f"skipped {folder / bad}" in r.stderr
    assert "2 of 4 videos could not be read" in r.stderr


def test_window_records_csv_and_lists(tiny_run, tmp_path):
    from zelda_core._deploy.predict import expand_inputs, load_source, predict
    from zelda_core._deploy.predict_output import render

    video = make_video(tmp_path / "v.mp4", frames=50)  # 2 s at 25 fps
    lst = tmp_path / "list.txt"
    lst.write_text("# videos\nv.mp4\n\n")
    assert expand_inputs([], [str(lst)]) == [str(tmp_path / "v.mp4")]
    source = load_source(tiny_run["ckpt"], device="cpu")
    (res,) = predict(source, [str(video)], top_k=2, window=1.0, stride=0.6, workers=0,
                     progress=False)
    assert [(w["start"], w["end"]) for w in res.windows] == [(0.0, 1.0), (0.6, 1.6), (1.0, 2.0)]
    assert [w["frames"] for w in res.windows] == [[0, 25], [15, 40], [25, 50]]
    assert res.timeline[0]["start"] == 0.0 and res.timeline[-1]["end"] == 2.0
    rows = render([res], "csv").splitlines()
    assert rows[0] == "video,start,end,rank,label,index,probability" and len(rows) == 1 + 3 * 2
    assert rows[1].startswith(f"{video},0.0,1.0,1,")


@pytest.mark.slow
def test_windows_over_joined_kinetics_clips_change_top1_at_the_join(separator, decoder_name):
    """A model fit to one typing and one exercise clip (see deploy_fixtures.separator)
    labels 2 s windows of the two clips joined: every window before the join is "typing",
    every window after it "doing exercises", the change comes once, at the join."""
    r = zelda("predict", str(separator["ckpt"]), str(separator["video"]), "--window", "2",
              "--stride", "1", "--format", "jsonl", "--top-k", "1", "--workers", "0",
              "--decoder", decoder_name)
    assert r.returncode == 0, r.stderr
    recs = _jsonl(r.stdout)
    windows = [x for x in recs if x["type"] == "window"]
    join = separator["join"]
    assert len(windows) == 11 and windows[-1]["end"] == pytest.approx(separator["duration"])
    top = [w["predictions"][0]["label"] for w in windows]
    for w, label in zip(windows, top):
        if w["end"] <= join:
            assert label == "typing", (w, top)
        elif w["start"] >= join:
            assert label == "doing exercises", (w, top)
    changes = [i for i in range(1, len(top)) if top[i] != top[i - 1]]
    assert len(changes) == 1 and abs(windows[changes[0]]["start"] - join) <= 2.0
    (tl,) = [x for x in recs if x["type"] == "timeline"]
    segs = tl["segments"]
    assert [s["label"] for s in segs] == ["typing", "doing exercises"]
    assert abs(segs[0]["end"] - join) <= 1.0 and segs[-1]["end"] == pytest.approx(separator["duration"])
    assert tl["text"].startswith("typing 00:00-") and "doing exercises" in r.stderr


def test_class_names_from_label_map_in_data_root(tmp_path):
    from zelda_core._deploy.labels import class_names

    (tmp_path / "label_map.txt").write_text("doing exercises\ntyping\n")
    recipe = {"data": {"root": str(tmp_path)}}
    names, note = class_names(["0", "1"], recipe, 2)
    assert names == ["doing exercises", "typing"] and "label_map.txt" in note
    assert class_names(["a", "b"], recipe, 2) == (["a", "b"], None)  # the checkpoint's own names win
    names, note = class_names(["0", "1", "2"], recipe, 3)
    assert names == ["0", "1", "2"] and "names 2 classes but the model has 3" in note


def test_training_takes_class_names_from_the_root_label_map(tiny_run, tmp_path):
    from zelda_core._engine.build import model_from_checkpoint

    # small_recipe names label_map.txt; a copy of its data without the key finds it anyway
    root = tmp_path / "data"
    shutil.copytree(tiny_run["root"], root)
    from zelda_core._registry import build

    ds = build("datasets", {"type": "video_list", "ann_file": "kinetics_tiny_val_video.txt",
                            "prefix": "val"}, key="data.val", root=str(root), pipeline=[],
               decoder={"type": "pyav"}, on_error="raise")
    assert ds.classes == ["dark", "bright"] and "label_map.txt" in ds.classes_note
    _, ckpt = model_from_checkpoint(tiny_run["ckpt"], device="cpu")
    assert ckpt["classes"] == ["dark", "bright"]
