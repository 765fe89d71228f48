"""A multi-label recipe end to end: a "path l1 l2" list trains a Conv3d recognizer with BCE,
the engine fills multi_label, val and test report mAP, per-class AP is written."""

from __future__ import annotations

import csv
import json

import pytest
import tomllib
from engine_util import make_dataset, small_recipe

pytestmark = pytest.mark.decoder_independent


def multi_label_recipe(tmp_path):
    root = make_dataset(tmp_path / "data", n_train=4, n_val=2)
    for split in ("train", "val"):  # dark clips: class 0; bright: classes 1 and 2
        ann = root / f"kinetics_tiny_{split}_video.txt"
        lines = [line.rsplit(" ", 1) for line in ann.read_text().splitlines()]
        ann.write_text("".join(f"{name} {'1 2' if label == '1' else '0'}\n" for name, label in lines))
    (root / "label_map.txt").write_text("dark\nbright\nlight\n")
    path = small_recipe(tmp_path / "r.toml", root, tmp_path / "work", epochs=1, test_split=True,
                        extra='best_metric = "mAP"')
    text = path.read_text().replace('label_map = "label_map.txt"',
                                    'label_map = "label_map.txt"\nmulti_label = true')
    text = text[:text.index("[metrics.accuracy]")] + (
        '[metrics.map]\ntype = "mean_average_precision"\n\n'
        '[metrics.recall]\ntype = "top_k_recall"\nk = [1, 2]\n')
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One multi-label run shared by the tests below: (tmp dir, summary)."""
    from zelda_core._engine.train import run_training
    from zelda_core._recipe import load_recipe

    tmp = tmp_path_factory.mktemp("ml")
    summary = run_training(load_recipe(str(multi_label_recipe(tmp)), []), plots=False)
    return tmp, summary


def test_multi_label_recipe_trains_and_reports_map(trained):
    tmp_path, summary = trained
    work = tmp_path / "work"
    resolved = tomllib.loads((work / "resolved.toml").read_text())
    assert resolved["model"]["head"]["multi_label"] is True  # filled by the engine
    assert 0.0 <= summary["test"]["mAP"] <= 1.0
    assert {"mAP", "mAP_micro", "recall_top1", "recall_top2"} <= set(summary["test"])
    records = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in records if r["type"] == "val"]
    assert val and all(0.0 <= r["mAP"] <= 1.0 and r["samples"] == 2 for r in val)
    train = [r for r in records if r["type"] == "train"]
    assert train and all(r["loss"] > 0 for r in train)
    rows = list(csv.reader((work / "test" / "average_precision.csv").open()))
    assert [r[0] for r in rows[1:]] == ["dark", "bright", "light"]
    assert [r[2] for r in rows[1:]] == ["1", "1", "1"]  # val: one dark, one bright video


def test_predict_lists_every_label_above_the_threshold(trained, capsys):
    from zelda_core._cli.main import main

    tmp_path, summary = trained
    video = str(tmp_path / "data" / "val" / "val1.mp4")
    ckpt = summary["best_checkpoint"]
    assert main(["predict", ckpt, video, "--format", "json", "--threshold", "0", "--workers", "0"]) == 0
    every = json.loads(capsys.readouterr().out)[0]["predictions"]
    assert sorted(p["label"] for p in every) == ["bright", "dark", "light"]  # all three, not a top-k
    probs = {p["label"]: p["probability"] for p in every}
    assert abs(sum(probs.values()) - 1.0) > 1e-3  # per-class sigmoids, not one softmax
    assert main(["predict", ckpt, video, "--format", "json", "--workers", "0", "--top-k", "1"]) == 0
    default = json.loads(capsys.readouterr().out)[0]["predictions"]  # threshold 0.5, --top-k unused
    assert [p["label"] for p in default] == [k for k, v in sorted(probs.items(), key=lambda kv: -kv[1])
                                             if v >= 0.5]
    cut = sorted(probs.values())[1]  # between the lowest and the middle probability
    assert main(["predict", ckpt, video, "--threshold", str(cut), "--workers", "0"]) == 0
    table = capsys.readouterr().out
    assert sum(name in table for name in probs) == 2
    assert main(["predict", ckpt, video, "--threshold", "1.5"]) == 1
    assert "--threshold is a probability in [0, 1]" in capsys.readouterr().err


def test_dump_of_a_multi_label_test_recomputes_the_summary(trained, tmp_path, capsys):
    import torch
    from zelda_metrics.multilabel import MeanAveragePrecision, TopKRecall

    from zelda_core._cli.main import main

    run, summary = trained
    dump = tmp_path / "d.jsonl"
    assert main(["test", str(run / "r.toml"), "-c", summary["best_checkpoint"], "--dump", str(dump),
                 "--out", str(tmp_path / "m.json")]) == 0
    rows = [json.loads(line) for line in dump.read_text().splitlines()]
    assert [r["label"] for r in rows] == [[0], [1, 2]] and {r["views"] for r in rows} == {2}
    scores = torch.tensor([r["scores"] for r in rows], dtype=torch.float32)
    targets = torch.zeros_like(scores)
    for i, r in enumerate(rows):
        targets[i, r["label"]] = 1.0
    recomputed = {}
    for metric in (MeanAveragePrecision(), TopKRecall(k=[1, 2])):
        metric.update(scores, targets)
        recomputed.update(metric.compute())
    assert recomputed == {k: v for k, v in summary["test"].items() if k != "samples"}


def test_bench_train_builds_the_multi_label_model_a_run_builds(trained, monkeypatch):
    import zelda_core._engine.bench_train as bench
    from zelda_core._recipe import load_recipe

    run, _ = trained
    built = []
    real = bench.build_model
    monkeypatch.setattr(bench, "build_model", lambda table, **kw: built.append(table) or real(table, **kw))
    bench.bench_train(load_recipe(str(run / "r.toml")), device="cpu", batches=1, model_batches=1)
    assert built[0]["head"]["multi_label"] is True


def test_an_exported_multi_label_model_predicts_the_same_labels(trained, tmp_path, capsys):
    from extras import need

    need("onnxruntime", "export")
    from zelda_core._cli.main import main

    run, summary = trained
    out = tmp_path / "m.onnx"
    assert main(["export", summary["best_checkpoint"], "--format", "onnx", "--out", str(out)]) == 0
    capsys.readouterr()
    video = str(run / "data" / "val" / "val1.mp4")
    listed = []
    for model in (summary["best_checkpoint"], str(out)):
        assert main(["predict", model, video, "--format", "json", "--threshold", "0", "--workers", "0"]) == 0
        listed.append(json.loads(capsys.readouterr().out)[0]["predictions"])
    assert [p["label"] for p in listed[0]] == [p["label"] for p in listed[1]]
    assert [p["probability"] for p in listed[1]] == pytest.approx([p["probability"] for p in listed[0]], abs=1e-4)
    from zelda_core._deploy.metadata import read_metadata
    from zelda_core._deploy.predict import load_source

    assert read_metadata(out)["output"]["multi_label"] is True
    assert load_source(out).multi_label and load_source(summary["best_checkpoint"], device="cpu").multi_label
