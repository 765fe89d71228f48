"""A run on CSV tables with class names (val has fewer classes than train), the label map in
the work dir and the checkpoint, and ``zelda test --dump``: metrics recomputed from the dump
equal summary.json's."""

from __future__ import annotations

import json

import pytest
import torch
from engine_util import SMALL_PIPELINE, make_dataset
from zelda_metrics.classification import MeanClassAccuracy, TopKAccuracy

pytestmark = pytest.mark.decoder_independent


def csv_recipe(tmp):
    root = make_dataset(tmp / "data", n_train=4, n_val=2)  # even: dark, odd: bright
    (root / "train.csv").write_text("file,action\n" + "".join(
        f"train/train{i}.mp4,{'bright' if i % 2 else 'dark'}\n" for i in range(4)))
    (root / "val.csv").write_text("file,action\nval/val0.mp4,dark\n")  # one class of two
    (root / "test.tsv").write_text("file\taction\nval/val0.mp4\tdark\nval/val1.mp4\tbright\n")
    table = ('type = "video_csv"\nann_file = "{}"\npath_column = "file"\nlabel_column = "action"\n'
             'pipeline = {}\n')
    train_p = SMALL_PIPELINE.format(clips=1, test="")
    test_p = SMALL_PIPELINE.format(clips=2, test=", test_mode = true")
    path = tmp / "r.toml"
    path.write_text(f"""
seed = 0
work_dir = "{tmp / 'work'}"
[data]
root = "{root}"
decoder = "pyav"
batch_size = 2
workers = 0
[data.train]
{table.format("train.csv", train_p)}
[data.val]
{table.format("val.csv", test_p)}
[data.test]
{table.format("test.tsv", test_p)}
[model]
type = "recognizer"
[model.preprocessor]
type = "normalize"
[model.backbone]
type = "conv3d_tiny"
[model.head]
type = "cls_head"
dropout = 0.0
[train]
epochs = 1
device = "cpu"
optimizer = {{ type = "Adam", lr = 0.001 }}
[metrics.accuracy]
type = "top_k_accuracy"
k = [1, 5]
[metrics.per_class]
type = "mean_class_accuracy"
""")
    return path


def test_csv_run_label_map_and_dump_metrics_equal_the_summary(tmp_path, capsys):
    from zelda_core._cli.main import main
    from zelda_core._engine.checkpoint import load_checkpoint

    recipe = csv_recipe(tmp_path)
    work = tmp_path / "work"
    assert main(["data", "check", str(recipe), "--json"]) == 0  # val's one class numbered as train's
    checked = json.loads(capsys.readouterr().out)
    assert checked["ok"] and checked["splits"]["val"]["classes"] == {"bright": 0, "dark": 1}
    assert main(["run", str(recipe), "--no-plots"]) == 0
    summary = json.loads((work / "summary.json").read_text())
    assert (work / "label_map.txt").read_text() == "bright\ndark\n"  # sorted names
    ckpt = summary["best_checkpoint"]
    assert load_checkpoint(ckpt)["classes"] == ["bright", "dark"]
    dump = tmp_path / "out" / "test.jsonl"
    dump.parent.mkdir()
    capsys.readouterr()
    assert main(["test", str(recipe), "-c", ckpt, "--dump", str(dump), "--out", str(tmp_path / "out" / "m.json")]) == 0
    assert f"per-video scores written to {dump}" in capsys.readouterr().out
    rows = [json.loads(line) for line in dump.read_text().splitlines()]
    root = tmp_path / "data"
    assert [(r["video"], r["source"], r["label"], r["views"]) for r in rows] == [
        (str(root / "val" / "val0.mp4"), f"{root / 'test.tsv'}:2", 1, 2),
        (str(root / "val" / "val1.mp4"), f"{root / 'test.tsv'}:3", 0, 2)]
    scores = torch.tensor([r["scores"] for r in rows], dtype=torch.float32)
    labels = torch.tensor([r["label"] for r in rows])
    recomputed = {}
    for metric in (TopKAccuracy(k=[1, 5]), MeanClassAccuracy()):
        metric.update(scores, labels)
        recomputed.update(metric.compute())
    assert recomputed == {k: v for k, v in summary["test"].items() if k != "samples"}
    assert summary["test"]["samples"] == len(rows)


def test_dump_never_lands_on_an_input(tmp_path, capsys):
    from engine_util import small_run

    from zelda_core._cli.main import main

    run = small_run(tmp_path)
    before = run["ckpt"].read_bytes()
    capsys.readouterr()
    assert main(["test", str(run["recipe"]), "-c", str(run["ckpt"]), "--split", "val",
                 "--dump", str(run["ckpt"])]) == 1
    err = capsys.readouterr().err
    assert f"--dump {run['ckpt']} is the checkpoint" in err and "Traceback" not in err
    assert run["ckpt"].read_bytes() == before
    assert main(["test", str(run["recipe"]), "-c", str(run["ckpt"]), "--split", "val",
                 "--dump", str(run["root"] / "val" / "d.jsonl")]) == 1
    assert "lies inside" in capsys.readouterr().err
    assert not (run["root"] / "val" / "d.jsonl").exists()
