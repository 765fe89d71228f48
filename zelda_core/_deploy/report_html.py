"""The run report as one self-contained HTML file: no script, no network, images inline.

``render(ReportData) -> str``. Pure: it takes what ``report.py`` gathered (the resolved
recipe, the environment, metrics.jsonl's records, one prediction per val video, the frame
strips of the worst mistakes, the skipped videos) and draws curves and matrices with
matplotlib (``Figure``, no pyplot) and frames with Pillow (matplotlib's own dependency).
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MATRIX_TABLE = 30
"""Up to this many classes the confusion matrix is a labelled table; above, a clustered
picture of the whole matrix plus the table of the classes of the top confusions."""
TOP_PAIRS = 25


@dataclass
class Prediction:
    """One val video as the metrics saw it."""

    video: str
    label: int | list[int]
    scores: list[float]
    source: str | None = None


@dataclass
class Strip:
    """The frames the model saw of one misclassified video (after the pipeline)."""

    prediction: Prediction
    frames: Any  # uint8 (T, H, W, 3)


@dataclass
class ReportData:
    title: str
    classes: list[str]
    recipe_toml: str
    environment: dict[str, str]
    train: list[dict[str, Any]] = field(default_factory=list)
    val: list[dict[str, Any]] = field(default_factory=list)
    predictions: list[Prediction] = field(default_factory=list)
    strips: list[Strip] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    checkpoint: str = ""
    notes: list[str] = field(default_factory=list)


CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f6f6;padding:8px;overflow:auto;max-height:420px;font-size:12px}
details{margin:8px 0}.grid{display:flex;flex-wrap:wrap;gap:12px}
.strip{margin:12px 0;padding:8px;border:1px solid #e4e4e4}.strip img{max-width:100%;display:block}
.bad{color:#b00020}.good{color:#1b5e20}.muted{color:#777}
table.cm td{padding:0;width:22px;height:22px;text-align:center;font-size:10px;border:1px solid #fff}
table.cm th{font-size:10px;font-weight:normal;white-space:nowrap}
th.v{writing-mode:vertical-rl;transform:rotate(180deg);height:110px;vertical-align:bottom}
img.matrix{width:min(760px,100%);image-rendering:pixelated;border:1px solid #ccc}
.scroll{max-height:460px;overflow:auto;display:inline-block}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _img(data: bytes, mime: str, alt: str, cls: str = "") -> str:
    b64 = base64.b64encode(data).decode("ascii")
    c = f' class="{cls}"' if cls else ""
    return f'<img{c} alt="{_e(alt)}" src="data:{mime};base64,{b64}">'


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _curves(data: ReportData) -> str:
    from matplotlib.figure import Figure

    parts = []
    loss = [(r["step"], _num(r.get("loss"))) for r in data.train if _num(r.get("loss")) is not None]
    lr = [(r["step"], _num(r.get("lr"))) for r in data.train if _num(r.get("lr")) is not None]
    if loss or lr:
        fig = Figure(figsize=(10, 3.2))
        for i, (series, name) in enumerate(((loss, "train loss"), (lr, "learning rate"))):
            ax = fig.add_subplot(1, 2, i + 1)
            if series:
                ax.plot([s for s, _ in series], [v for _, v in series], lw=1.2)
            ax.set_title(name)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
        fig.tight_layout()
        parts.append(_img(_png(fig), "image/png", "train loss and learning rate", "curve"))
    keys = [k for k in dict.fromkeys(k for r in data.val for k in r)
            if k not in ("type", "step", "epoch", "seconds", "samples") and
            any(_num(r.get(k)) is not None for r in data.val)]
    if keys:
        fig = Figure(figsize=(10, 3.2))
        ax = fig.add_subplot(1, 1, 1)
        for k in keys:
            pts = [(r.get("epoch", r["step"]), _num(r.get(k))) for r in data.val if _num(r.get(k)) is not None]
            ax.plot([p for p, _ in pts], [v for _, v in pts], marker="o", ms=3, lw=1.2, label=k)
        ax.set_title("validation metrics")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=4)
        fig.tight_layout()
        parts.append(_img(_png(fig), "image/png", "validation metrics per epoch", "curve"))
    return "".join(parts) or '<p class="muted">metrics.jsonl has no train or val records.</p>'


def _single_label(preds: list[Prediction]) -> bool:
    return all(isinstance(p.label, int) for p in preds)


def confusion(preds: list[Prediction], k: int) -> np.ndarray:
    """Counts (true, predicted) of single-label predictions (argmax)."""
    cm = np.zeros((k, k), dtype=np.int64)
    for p in preds:
        cm[int(p.label), int(np.argmax(p.scores))] += 1
    return cm


def cluster_order(cm: np.ndarray) -> list[int]:
    """Classes ordered so that classes confused with each other sit together: the
    Fiedler vector of the symmetrised, row-normalised confusions (spectral ordering);
    classes with no confusion keep their index order at the end."""
    k = cm.shape[0]
    rows = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    w = rows + rows.T
    np.fill_diagonal(w, 0)
    linked = np.flatnonzero(w.sum(axis=1) > 0)
    if len(linked) < 3:
        return list(range(k))
    sub = w[np.ix_(linked, linked)]
    lap = np.diag(sub.sum(axis=1)) - sub
    _, vecs = np.linalg.eigh(lap)
    order = [int(linked[i]) for i in np.argsort(vecs[:, 1], kind="stable")]
    return order + [i for i in range(k) if i not in set(order)]


def _matrix_picture(cm: np.ndarray, order: list[int]) -> bytes:
    """The whole row-normalised matrix, one pixel per cell, classes in ``order``."""
    from PIL import Image

    m = cm[np.ix_(order, order)].astype(np.float64)
    m = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    shade = (255 - np.sqrt(m) * 255).astype(np.uint8)  # sqrt: small confusions stay visible
    rgb = np.stack([shade, shade, np.full_like(shade, 255)], axis=-1)
    rgb[m == 0] = 255
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _matrix_table(cm: np.ndarray, idx: list[int], classes: list[str]) -> str:
    m = cm[np.ix_(idx, idx)]
    totals = cm[idx].sum(axis=1)
    head = "".join(f'<th class="v">{_e(classes[j])}</th>' for j in idx)
    rows = []
    for r, i in enumerate(idx):
        cells = []
        for c, _j in enumerate(idx):
            v = int(m[r, c])
            share = v / totals[r] if totals[r] else 0.0
            color = f"rgba(21,101,192,{0.08 + 0.92 * share:.2f})" if v else "#fafafa"
            fg = "#fff" if share > 0.5 else "#222"
            cells.append(f'<td style="background:{color};color:{fg}" title="{_e(classes[i])} -> '
                         f'{_e(classes[idx[c]])}: {v}">{v or ""}</td>')
        rows.append(f"<tr><th>{_e(classes[i])}</th>{''.join(cells)}</tr>")
    return (f'<div class="scroll"><table class="cm" id="confusion-table"><tr><th>true \\ predicted</th>{head}</tr>'
            + "".join(rows) + "</table></div>")


def _top_confused(cm: np.ndarray, limit: int) -> list[int]:
    k = cm.shape[0]
    off = cm.copy()
    np.fill_diagonal(off, 0)
    chosen: list[int] = []
    for flat in np.argsort(off, axis=None)[::-1]:
        i, j = divmod(int(flat), k)
        if off[i, j] == 0 or len(chosen) >= limit:
            break
        for c in (i, j):
            if c not in chosen and len(chosen) < limit:
                chosen.append(c)
    if len(chosen) < limit:
        chosen += [i for i in np.argsort(-cm.sum(axis=1), kind="stable") if i not in chosen][:limit - len(chosen)]
    return sorted(int(c) for c in chosen)


def _confusion_section(cm: np.ndarray, classes: list[str]) -> str:
    k = cm.shape[0]
    if k <= MATRIX_TABLE:
        return _matrix_table(cm, list(range(k)), classes)
    order = cluster_order(cm)
    picture = _img(_matrix_picture(cm, order), "image/png",
                   f"confusion matrix of {k} classes, clustered", "matrix")
    idx = _top_confused(cm, MATRIX_TABLE)
    return (f"<p>All {k} classes, row-normalised, ordered so that classes confused with each other "
            f"sit together (spectral ordering); darker is a larger share of the true class.</p>"
            f'<div id="confusion-matrix">{picture}</div>'
            f"<p>The {len(idx)} classes of the most frequent confusions:</p>"
            + _matrix_table(cm, idx, classes))


def _pairs_section(cm: np.ndarray, classes: list[str]) -> str:
    off = cm.copy()
    np.fill_diagonal(off, 0)
    flat = [int(f) for f in np.argsort(off, axis=None)[::-1][:TOP_PAIRS]]
    rows = []
    for f in flat:
        i, j = divmod(f, cm.shape[0])
        if off[i, j] == 0:
            break
        share = off[i, j] / max(cm[i].sum(), 1)
        back = int(off[j, i])
        rows.append(f"<tr><td>{_e(classes[i])}</td><td>{_e(classes[j])}</td><td class='n'>{int(off[i, j])}</td>"
                    f"<td class='n'>{share:.0%}</td><td class='n'>{back}</td></tr>")
    if not rows:
        return '<p class="good">No confusions: every val video was classified right.</p>'
    return ('<table id="confused-pairs"><tr><th>true</th><th>predicted as</th><th>videos</th>'
            "<th>of the true class</th><th>the other way</th></tr>" + "".join(rows) + "</table>")


def average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    """AP of one class: the mean precision at each positive, by descending score."""
    if not positive.any():
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    hits = positive[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def _per_class_section(preds: list[Prediction], classes: list[str]) -> str:
    k = len(classes)
    scores = np.array([p.scores for p in preds], dtype=np.float64)
    if _single_label(preds):
        labels = np.array([p.label for p in preds])
        predicted = scores.argmax(axis=1)
        support = np.bincount(labels, minlength=k)
        correct = np.bincount(labels[predicted == labels], minlength=k)
        value = np.where(support > 0, correct / np.maximum(support, 1), np.nan)
        head = "accuracy"
    else:
        hot = np.zeros((len(preds), k), dtype=bool)
        for r, p in enumerate(preds):
            hot[r, list(p.label)] = True
        support = hot.sum(axis=0)
        value = np.array([average_precision(scores[:, c], hot[:, c]) for c in range(k)])
        head = "AP"
    order = sorted(range(k), key=lambda c: (math.inf if math.isnan(value[c]) else value[c], -support[c]))
    rows = "".join(
        f"<tr><td>{_e(classes[c])}</td><td class='n'>{'-' if math.isnan(value[c]) else f'{value[c]:.1%}'}</td>"
        f"<td class='n'>{int(support[c])}</td></tr>" for c in order)
    return (f'<p>Worst first; classes without val videos last.</p><div class="scroll">'
            f'<table id="per-class"><tr><th>class</th><th>{head}</th><th>support (val videos)</th></tr>'
            f"{rows}</table></div>")


def strip_image(frames: Any, height: int = 112) -> bytes:
    """The frames side by side (each ``height`` pixels high) as a JPEG."""
    from PIL import Image

    arr = np.asarray(frames, dtype=np.uint8)
    tiles = []
    for f in arr:
        img = Image.fromarray(f, "RGB")
        w = max(1, round(img.width * height / img.height))
        tiles.append(img.resize((w, height)))
    canvas = Image.new("RGB", (sum(t.width for t in tiles) + 2 * (len(tiles) - 1), height), "white")
    x = 0
    for t in tiles:
        canvas.paste(t, (x, 0))
        x += t.width + 2
    buf = io.BytesIO()
    canvas.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def _strips_section(data: ReportData) -> str:
    if not data.strips:
        return '<p class="muted">No misclassified val video to show.</p>'
    out = []
    for s in data.strips:
        p = s.prediction
        scores = np.asarray(p.scores)
        top = np.argsort(-scores)[:3]
        true = int(p.label) if isinstance(p.label, int) else -1
        tops = ", ".join(f"{_e(data.classes[i])} {scores[i]:.3f}" for i in top)
        out.append(
            f'<div class="strip"><div><b>{_e(p.video)}</b>'
            + (f' <span class="muted">({_e(p.source)})</span>' if p.source else "")
            + f'</div><div>true: <span class="good">{_e(data.classes[true])}</span> (score {scores[true]:.3f}) '
            f'&middot; predicted: <span class="bad">{_e(data.classes[int(top[0])])}</span> '
            f'(score {scores[int(top[0])]:.3f}) &middot; top 3: {tops}</div>'
            + _img(strip_image(s.frames), "image/jpeg", f"frames of {p.video} as the model saw them")
            + "</div>")
    return (f"<p>The {len(data.strips)} misclassified val videos with the lowest score for their true "
            "class: the frames the model saw (after the val pipeline: sampling, resize, crop), "
            "first view.</p><div id='strips'>" + "".join(out) + "</div>")


def _skipped_section(skipped: list[tuple[str, str]]) -> str:
    if not skipped:
        return '<p class="good">None: every listed video was read.</p>'
    files: dict[str, str] = {}
    for f, reason in skipped:
        files.setdefault(f, reason)
    rows = "".join(f"<tr><td>{_e(f)}</td><td>{_e(r)}</td></tr>" for f, r in sorted(files.items()))
    return (f"<p>{len(skipped)} sample(s) of {len(files)} file(s) were skipped as unreadable "
            f"(<code>on_error = \"skip\"</code>).</p><div class='scroll'><table id='skipped'>"
            f"<tr><th>video</th><th>reason</th></tr>{rows}</table></div>")


def _summary_section(data: ReportData) -> str:
    s = data.summary
    items = []
    if s.get("best_metric") is not None:
        best = s.get("best_value")
        best = f"{best:.4f}" if isinstance(best, float) else best
        items.append(f"best {_e(s['best_metric'])} {best} at epoch {s.get('best_epoch')}")
    if s.get("epochs") is not None:
        items.append(f"{s['epochs']} epochs in {s.get('seconds')} s")
    for split in ("val", "test"):
        if isinstance(s.get(split), dict):
            items.append(f"{split}: " + ", ".join(f"{_e(k)} {v:.4f}" if isinstance(v, float) else f"{_e(k)} {v}"
                                                  for k, v in s[split].items() if k != "samples"))
    if data.checkpoint:
        items.append(f"predictions below: {_e(data.checkpoint)} on the val split")
    items += [_e(n) for n in data.notes]
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def render(data: ReportData) -> str:
    """The report page."""
    env = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in data.environment.items())
    sections = [("summary", "Summary", _summary_section(data)),
                ("curves", "Loss, learning rate and metrics", _curves(data))]
    preds = data.predictions
    if preds:
        k = len(data.classes)
        sections.append(("per-class-section", "Per class", _per_class_section(preds, data.classes)))
        if _single_label(preds):
            cm = confusion(preds, k)
            sections += [("confusion", "Confusion matrix", _confusion_section(cm, data.classes)),
                         ("pairs", "Most confused pairs", _pairs_section(cm, data.classes)),
                         ("mistakes", "Misclassified videos, as the model saw them", _strips_section(data))]
    else:
        sections.append(("per-class-section", "Per class",
                         '<p class="muted">No val predictions (the run has no val split or checkpoint).</p>'))
    sections += [("skipped-section", "Data problems the run skipped", _skipped_section(data.skipped)),
                 ("recipe", "Recipe (resolved) and environment",
                  f"<table>{env}</table><details open><summary>resolved.toml</summary>"
                  f"<pre>{_e(data.recipe_toml)}</pre></details>")]
    body = "".join(f'<section id="{sid}"><h2>{_e(title)}</h2>{content}</section>' for sid, title, content in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'\">"
            f"<title>{_e(data.title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{_e(data.title)}</h1>{body}</body></html>\n")
