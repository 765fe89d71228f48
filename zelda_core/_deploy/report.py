"""``zelda report``: the run report (report.html) of a work dir; ``zelda run`` writes it at
the end.

Gathers what ``report_html.render`` draws: the resolved recipe and the environment,
metrics.jsonl, summary.json, one prediction per val video (the checkpoint evaluated with
``evaluate.test_checkpoint``'s ``dump``, the records of ``zelda test --dump``), the
frames the model saw of the worst mistakes (the val pipeline run again on those videos)
and the videos the run skipped.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

from .._errors import ZeldaError
from .._install import install_hint
from .._userfile import expect_dir, path_kind

STRIPS = 8
"""Misclassified val videos shown as frame strips."""
MAX_FRAMES = 16


def _checkpoint(work_dir: Path, given: str | Path | None) -> Path | None:
    if given is not None:
        kind = path_kind(given)
        if kind != "a regular file":
            raise ZeldaError(f"--checkpoint {given} is {kind}, not a checkpoint file")
        return Path(given)
    for name in ("best.pth", "last.pth"):
        path = work_dir / "checkpoints" / name
        if path.is_file():
            return path
    return None


def _environment(meta: Any, device: str | None) -> dict[str, str]:
    import torch

    from .. import __version__

    env = {"zelda-video": __version__, "python": sys.version.split()[0], "torch": torch.__version__,
           "platform": platform.platform(), "device": device or "cpu"}
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    if isinstance(meta, dict):
        for k, v in meta.items():
            if isinstance(v, dict):
                env.update({f"recipe {k}: {kk}": str(vv) for kk, vv in v.items()})
            else:
                env[f"recipe {k}"] = str(v)
    return env


def _frames(inputs: Any) -> Any:
    """The first view of a packed sample as (T, H, W, 3) uint8, at most MAX_FRAMES."""
    import numpy as np
    import torch

    x = inputs if isinstance(inputs, torch.Tensor) else torch.as_tensor(np.asarray(inputs))
    while x.dim() > 4:  # views (and crops): the first
        x = x[0]
    if x.dim() != 4 or x.shape[0] != 3:
        return None
    x = x.permute(1, 2, 3, 0)
    if x.dtype != torch.uint8:
        x = x.float()
        x = (x - x.min()) / max(float(x.max() - x.min()), 1e-6) * 255
        x = x.to(torch.uint8)
    t = x.shape[0]
    if t > MAX_FRAMES:
        x = x[torch.linspace(0, t - 1, MAX_FRAMES).round().long()]
    return x.cpu().numpy()


def _strips(recipe: Any, classes: list[str], worst: list[Any]) -> tuple[list[Any], list[str]]:
    """The frames the model saw of each of ``worst`` (their val pipeline run again)."""
    from .._data import build_dataset
    from .report_html import Strip

    notes: list[str] = []
    ds = build_dataset(recipe.data, "val", recipe_file=recipe.file)
    if classes and hasattr(ds, "adopt_classes"):
        ds.adopt_classes(list(classes))
    index = {rec[0]: i for i, rec in enumerate(getattr(ds, "records", []))}
    strips = []
    for p in worst:
        i = index.get(p.video)
        if i is None:
            continue
        try:
            sample = ds[i]
        except Exception as exc:  # noqa: BLE001 - a strip is a picture: the report goes on
            notes.append(f"no frames for {p.video}: {type(exc).__name__}: {exc}")
            continue
        frames = _frames(sample.get("inputs")) if isinstance(sample, dict) and "inputs" in sample else None
        if frames is not None:
            strips.append(Strip(p, frames))
    return strips, notes


def _predictions(recipe: Any, ckpt: Path, device: str | None) -> tuple[list[Any], list[tuple[str, str]]]:
    """One prediction per readable val video (``zelda test --dump``'s records)."""
    from .._engine.evaluate import test_checkpoint
    from .report_html import Prediction

    with tempfile.TemporaryDirectory(prefix="zelda-report-") as tmp:
        dump = Path(tmp) / "val.jsonl"
        report = test_checkpoint(recipe, ckpt, split="val", out=Path(tmp) / "val_metrics.json",
                                 device=device, dump=dump)
        rows = [json.loads(x) for x in dump.read_text(encoding="utf-8").splitlines() if x.strip()]
    preds = [Prediction(video=str(r["video"]), label=r["label"], scores=r["scores"], source=r.get("source"))
             for r in rows]
    return preds, [tuple(s) for s in report.get("skipped") or []]


def build_report(work_dir: str | Path, *, checkpoint: str | Path | None = None, out: str | Path | None = None,
                 strips: int = STRIPS, device: str | None = None) -> Path:
    """Write the report of ``work_dir`` (default ``work_dir/report.html``) and return its
    path. The val split is evaluated with ``checkpoint`` (default: the run's best, else
    last); without one, or without a val split, the report has the curves only."""
    try:
        import matplotlib  # noqa: F401
        import PIL  # noqa: F401
    except ImportError:
        raise ZeldaError(f"the run report needs matplotlib: {install_hint('plot')}") from None
    from .._outputs import write_output
    from .._recipe import load_recipe
    from .plot import read_metrics
    from .report_html import ReportData, render

    work_dir = Path(work_dir)
    problem = expect_dir(work_dir, "work dir")
    if problem:
        raise ZeldaError(f"{problem} (zelda report takes the work dir of a run)")
    resolved = work_dir / "resolved.toml"
    if path_kind(resolved) != "a regular file":
        raise ZeldaError(f"{work_dir} is not a zelda work dir: it has no resolved.toml (zelda run writes one)")
    recipe = load_recipe(str(resolved))
    recipe_toml = resolved.read_text(encoding="utf-8")
    train, val = read_metrics(work_dir / "metrics.jsonl") if (work_dir / "metrics.jsonl").is_file() else ([], [])
    summary: dict[str, Any] = {}
    if (work_dir / "summary.json").is_file():
        try:
            summary = json.loads((work_dir / "summary.json").read_text(encoding="utf-8"))
        except ValueError:
            summary = {}
    ckpt = _checkpoint(work_dir, checkpoint)
    data = ReportData(title=f"zelda run report: {work_dir.resolve().name}", classes=[], recipe_toml=recipe_toml,
                      environment=_environment(_meta(recipe_toml), device),
                      train=train, val=val, summary=summary,
                      skipped=[tuple(s) for s in summary.get("skipped") or []])
    has_val = isinstance((recipe.data.get("data") or {}).get("val"), dict)
    if ckpt is not None and has_val:
        from .._engine.checkpoint import load_checkpoint

        data.classes = [str(c) for c in load_checkpoint(ckpt).get("classes") or []]
        data.predictions, skipped = _predictions(recipe, ckpt, device)
        data.checkpoint = str(ckpt)
        data.skipped += [s for s in skipped if s not in data.skipped]
        if not data.classes and data.predictions:
            data.classes = [str(i) for i in range(len(data.predictions[0].scores))]
        wrong = [p for p in data.predictions if isinstance(p.label, int)
                 and max(range(len(p.scores)), key=p.scores.__getitem__) != p.label]
        wrong.sort(key=lambda p: p.scores[p.label])
        if strips > 0 and wrong:
            data.strips, notes = _strips(recipe, data.classes, wrong[:strips])
            data.notes += notes
    else:
        data.notes.append("no val predictions: " + ("the recipe has no val split" if not has_val
                                                     else "the work dir has no checkpoint"))
    out_path = Path(out) if out else work_dir / "report.html"
    write_output(out_path, render(data), option="--out",
                 inputs=[("the checkpoint", ckpt)] if ckpt else ())
    return out_path


def _meta(text: str) -> dict[str, Any]:
    """The ``[meta]`` table of resolved.toml (load_recipe takes it out)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    try:
        return dict(tomllib.loads(text).get("meta") or {})
    except Exception:  # noqa: BLE001 - the environment table is a nicety
        return {}
