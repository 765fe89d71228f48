"""The run report: ``zelda run`` writes report.html, ``zelda report`` rebuilds it; one
self-contained file that headless Chromium opens with no console error and no network
request, showing the confusion matrix and the misclassified videos as the model saw them;
a 400-class report stays small and renders fast."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from chromium import load  # noqa: E402
from engine_util import make_dataset, small_recipe  # noqa: E402

from zelda_core._cli.main import main  # noqa: E402

pytestmark = pytest.mark.decoder_independent

IMAGES_OK = ("[...document.querySelectorAll('{sel} img')].map(i => i.complete && i.naturalWidth > 0 "
             "&& i.naturalHeight > 0)")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 1-epoch run (report written at the end), then the val list relabelled (every video
    named as the other class) plus a corrupt video, so that ``zelda report`` has mistakes
    to show and a skipped video to list."""
    tmp = tmp_path_factory.mktemp("report")
    root = make_dataset(tmp / "data", n_train=4, n_val=4)
    recipe = small_recipe(tmp / "r.toml", root, tmp / "work", epochs=1)
    mp = pytest.MonkeyPatch()
    mp.setenv("ZELDA_PLOTS", "1")
    try:
        assert main(["run", str(recipe), "--set", 'data.on_error="skip"']) == 0
    finally:
        mp.undo()
    work = tmp / "work"
    first = (work / "report.html").read_text()
    ann = root / "kinetics_tiny_val_video.txt"
    lines = [x.split() for x in ann.read_text().splitlines() if x.strip()]
    (root / "val" / "broken.mp4").write_bytes(b"not a video")
    ann.write_text("".join(f"{v} {1 - int(label)}\n" for v, label in lines) + "broken.mp4 0\n")
    return {"work": work, "first": first, "root": root, "n_val": len(lines)}


def test_zelda_run_writes_the_report_and_zelda_report_rebuilds_it(run, capsys):
    work = run["work"]
    assert '<section id="confusion">' in run["first"] and "resolved.toml" in run["first"]
    capsys.readouterr()
    assert main(["report", str(work)]) == 0
    assert f"wrote {work / 'report.html'}" in capsys.readouterr().out
    page = (work / "report.html").read_text()
    assert page != run["first"]
    # self-contained: no script, no link or source that leaves the file
    assert "<script" not in page and not re.search(r"""(src|href)=["']?(https?:|//)""", page)
    for section in ("summary", "curves", "per-class-section", "confusion", "pairs", "mistakes",
                    "skipped-section", "recipe"):
        assert f'<section id="{section}">' in page, section
    assert "broken.mp4" in page.split('id="skipped-section"')[1]
    strips = page.split("<div id='strips'>")[1]
    assert 1 <= strips.count('<div class="strip">') <= run["n_val"]
    assert strips.count("data:image/jpeg;base64,") == strips.count('<div class="strip">')
    support = re.findall(r"<td class='n'>(\d+)</td></tr>", page.split('id="per-class"')[1].split("</table>")[0])
    assert sum(int(s) for s in support) == run["n_val"]  # every readable val video once
    assert json.loads((work / "summary.json").read_text())["epochs"] == 1
    assert not list(work.glob("val_metrics.json"))  # the report's own evaluation left nothing


def test_the_report_opens_in_chromium_without_errors_or_network(run, tmp_path):
    page = run["work"] / "report.html"
    got = load(page, tmp_path, checks={
        "table": "document.querySelectorAll('#confusion-table td').length",
        "strips": IMAGES_OK.format(sel="#strips"),
        "curves": IMAGES_OK.format(sel="#curves"),
    })
    assert got.errors == [] and got.requests == []
    assert got.values["table"] == 4  # 2 x 2 cells
    assert got.values["strips"] and all(got.values["strips"])
    assert got.values["curves"] and all(got.values["curves"])
    assert got.screenshot.startswith(b"\x89PNG") and len(got.screenshot) > 10_000
    (tmp_path / "report.png").write_bytes(got.screenshot)


def synthetic_report(k: int = 400, per_class: int = 10, seed: int = 0):
    """A 400-class report: each class confused with its neighbours, 8 strips of 16 frames."""
    from zelda_core._deploy.report_html import Prediction, ReportData, Strip

    rng = np.random.default_rng(seed)
    preds = []
    for c in range(k):
        for i in range(per_class):
            scores = rng.random(k) * 0.1
            scores[c] += 0.5
            scores[(c + 1 + i % 3) % k] += rng.random() * 0.7  # a neighbour, sometimes higher
            scores /= scores.sum()
            preds.append(Prediction(f"val/class{c}_{i}.mp4", c, scores.round(6).tolist(), f"val.txt:{c * per_class + i + 1}"))
    frames = rng.integers(0, 255, (16, 224, 224, 3), dtype=np.uint8)
    wrong = [p for p in preds if int(np.argmax(p.scores)) != p.label][:8]
    train = [{"type": "train", "step": s, "loss": 6.0 / (1 + s / 100), "lr": 0.1} for s in range(1, 2001, 10)]
    val = [{"type": "val", "step": e * 100, "epoch": e, "top1": 0.1 * e, "top5": 0.15 * e} for e in range(1, 7)]
    return ReportData(title="400 classes", classes=[f"class number {c}" for c in range(k)],
                      recipe_toml="seed = 0\n" * 200, environment={"torch": "x"}, train=train, val=val,
                      predictions=preds, strips=[Strip(p, frames) for p in wrong],
                      skipped=[("val/bad.mp4", "moov atom not found")])


def test_a_400_class_report_is_small_and_renders_fast(tmp_path):
    from zelda_core._deploy.report_html import render

    page = tmp_path / "report.html"
    page.write_text(render(synthetic_report()))
    assert page.stat().st_size < 5_000_000, page.stat().st_size
    text = page.read_text()
    assert text.count('<tr><th>class number') == 30  # the truncated table: 30 classes
    got = load(page, tmp_path, checks={
        "matrix": IMAGES_OK.format(sel="#confusion-matrix"),
        "size": "[...document.querySelectorAll('#confusion-matrix img')].map(i => i.naturalWidth)",
        "strips": IMAGES_OK.format(sel="#strips"),
    })
    assert got.errors == [] and got.requests == []
    assert got.values["matrix"] == [True] and got.values["size"] == [400]
    assert got.values["strips"] == [True] * 8
    assert got.seconds < 3.0, got.seconds
    (tmp_path / "report400.png").write_bytes(got.screenshot)


def test_the_clustered_order_puts_confused_classes_together():
    from zelda_core._deploy.report_html import cluster_order

    k = 12
    cm = np.eye(k, dtype=np.int64) * 10
    perm = np.random.default_rng(1).permutation(k)
    for a, b in ((0, 1), (1, 2), (3, 4), (4, 5)):  # two chains of confusions
        cm[perm[a], perm[b]] = cm[perm[b], perm[a]] = 5
    order = cluster_order(cm)
    assert sorted(order) == list(range(k))
    pos = {c: i for i, c in enumerate(order)}
    for chain in ((0, 1, 2), (3, 4, 5)):
        at = sorted(pos[perm[c]] for c in chain)
        assert at[-1] - at[0] == 2, (chain, order)


def test_report_errors_are_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no resolved.toml" in err and "Traceback" not in err
    assert main(["report", str(tmp_path / "nope")]) == 1
    assert "Traceback" not in capsys.readouterr().err


@pytest.fixture(autouse=True, scope="module")
def _no_leftover_profiles():
    yield
    shutil.rmtree(Path("chromium-profile"), ignore_errors=True)


def test_a_multi_label_report_shows_average_precision_per_class():
    sklearn = pytest.importorskip("sklearn.metrics")
    from zelda_core._deploy.report_html import Prediction, ReportData, average_precision, render

    rng = np.random.default_rng(3)
    hot = rng.random((40, 5)) < 0.3
    hot[0] = True  # every class has a positive
    scores = np.clip(hot * 0.4 + rng.random((40, 5)) * 0.6, 0, 1)
    for c in range(5):
        assert average_precision(scores[:, c], hot[:, c]) == pytest.approx(
            sklearn.average_precision_score(hot[:, c], scores[:, c]))
    preds = [Prediction(f"v{i}.mp4", [int(j) for j in np.flatnonzero(h)], s.tolist()) for i, (h, s) in
             enumerate(zip(hot, scores))]
    page = render(ReportData(title="ml", classes=list("abcde"), recipe_toml="", environment={},
                             predictions=preds))
    assert "<th>AP</th>" in page and 'id="confusion"' not in page
    rows = page.split('id="per-class"')[1].split("</table>")[0]
    assert sorted(int(n) for n in re.findall(r"<td class='n'>(\d+)</td></tr>", rows)) == sorted(hot.sum(axis=0))
