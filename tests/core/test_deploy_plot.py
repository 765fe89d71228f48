"""zelda plot: PNG and SVG of curves and confusion matrices, checked against the run's files."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from deploy_helpers import png_ok, svg_root, svg_texts_by_id
from extras import need

from zelda_core._cli.main import main

need("matplotlib", "plot")

CURVES = ("train_loss", "learning_rate", "val_metrics")


def _confusion_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0][1:], [[int(v) for v in r[1:]] for r in rows[1:]]


def test_plot_two_work_dirs(tiny_run, tiny_run2, tmp_path, capsys):
    out = tmp_path / "plots"
    assert main(["plot", str(tiny_run["work"]), str(tiny_run2["work"]), "--out", str(out)]) == 0
    names = ("work", "work2")
    expected = list(CURVES)
    for run in names:
        expected += [f"{run}_confusion_val_counts", f"{run}_confusion_val_normalized",
                     f"{run}_per_class_accuracy_val"]
    for stem in expected:
        png_ok(out / f"{stem}.png")
        svg_root(out / f"{stem}.svg")
    # both runs in the overlaid curves' legend
    texts = (out / "train_loss.svg").read_text()
    assert "work (smoothed)" in texts and "work2 (smoothed)" in texts
    # the drawn counts are the saved confusion CSV's
    for run, work in zip(names, (tiny_run["work"], tiny_run2["work"])):
        classes, counts = _confusion_csv(work / "val" / "confusion_matrix.csv")
        cells = svg_texts_by_id(svg_root(out / f"{run}_confusion_val_counts.svg"), "counts-")
        assert len(cells) == len(classes) ** 2
        for i, row in enumerate(counts):
            for j, v in enumerate(row):
                assert cells[f"counts-{i}-{j}"] == str(v)
        svg = (out / f"{run}_confusion_val_counts.svg").read_text()
        assert all(name in svg for name in classes)  # class names on the axes
        norm = svg_texts_by_id(svg_root(out / f"{run}_confusion_val_normalized.svg"), "normalized-")
        for i, row in enumerate(counts):
            total = sum(row)
            for j, v in enumerate(row):
                assert float(norm[f"normalized-{i}-{j}"]) == pytest.approx(v / total if total else 0, abs=0.005)


def test_zelda_run_draws_its_plots(tiny_run):
    plots = tiny_run["work"] / "plots"  # tiny_run trains with plots=True
    for stem in (*CURVES, "confusion_val_counts", "confusion_val_normalized", "per_class_accuracy_val"):
        png_ok(plots / f"{stem}.png")
        svg_root(plots / f"{stem}.svg")
    assert "plots: 12 files" in (tiny_run["work"] / "train.log").read_text()


def test_400_classes_stay_readable(tmp_path):
    """A fabricated run with 400 classes: the matrix shows the 30 classes of the top
    confusions, the per-class chart lists all 400 names."""
    from zelda_core._deploy.plot import plot_runs, top_confused_classes

    k = 400
    rng = np.random.default_rng(0)
    m = np.diag(rng.integers(5, 20, k))
    m[7, 300] = 50  # the largest confusions
    m[12, 13] = 40
    work = tmp_path / "run400"
    (work / "val").mkdir(parents=True)
    names = [f"class {i}" for i in range(k)]
    with open(work / "val" / "confusion_matrix.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["true \\ predicted", *names])
        for i in range(k):
            w.writerow([names[i], *m[i].tolist()])
    (work / "metrics.jsonl").write_text("".join(
        json.dumps({"type": "train", "step": s, "loss": 1 / s, "lr": 0.01}) + "\n" for s in range(1, 20)))
    keep = top_confused_classes(m.tolist(), 30)
    assert len(keep) == 30 and {7, 300, 12, 13} <= set(keep)
    files = plot_runs([work], tmp_path / "out")
    assert {f.name for f in files} >= {"confusion_val_counts.svg", "per_class_accuracy_val.svg"}
    svg = (tmp_path / "out" / "confusion_val_counts.svg").read_text()
    assert "30 of 400 classes" in svg
    shown = {i for i in range(k) if f">class {i}<" in svg}
    assert shown == set(keep)  # the axes name exactly the 30 classes kept
    bars = (tmp_path / "out" / "per_class_accuracy_val.svg").read_text()
    assert all(f"class {i} (n=" in bars for i in range(k))
    w, h = png_ok(tmp_path / "out" / "per_class_accuracy_val.png")
    assert h > 20 * w // 7  # tall enough for 400 readable rows


def test_plot_errors(tmp_path, capsys):
    assert main(["plot", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    assert "has no metrics.jsonl" in capsys.readouterr().err
