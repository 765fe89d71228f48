"""Evaluation: a model's metrics over batches, and a checkpoint tested on a split.

``test_checkpoint`` is the one path for both ``zelda test`` and the test ``zelda run``
does after training.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from .._contracts import check_scores
from .._errors import RecipeError, ZeldaError

Batches = Iterable[Mapping[str, Any]]


def _merge_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, metric in metrics.items():
        for key, value in metric.compute().items():
            out[f"{name}/{key}" if key in out else key] = float(value)
    return out


def _views(inputs: Any) -> int | None:
    shape = getattr(inputs, "shape", None)
    return int(shape[1]) if shape is not None and len(shape) == 6 else None


def evaluate(
    model: torch.nn.Module,
    batches: Batches,
    metrics: Mapping[str, Any],
    *,
    device: torch.device,
    dtype: torch.dtype | None = None,
    total: int | None = None,
    desc: str = "val",
    skipped: list[tuple[str, str]] | None = None,
    dump: list[dict[str, Any]] | None = None,
    ctx: Any = None,
) -> dict[str, float]:
    """Run ``model.predict`` over ``batches`` (views averaged) and compute ``metrics``.
    ``desc`` names the split; ``UnreadableSplitError`` when none of its samples could be read.

    In a distributed run each rank passes its own share of the split (the engine's
    loaders shard evaluation in contiguous blocks, without padding); the ranks' scores
    are gathered in rank order, so every rank computes the metrics over exactly the
    split, in one process's order. ``skipped`` gets every rank's skipped samples; ``dump``,
    in that order, each scored video's ``{"record", "label", "scores", "views"}``: its
    dataset index, its label (tensor), its averaged scores as the metrics saw them (float32
    (K,)) and the number of views averaged. ``ctx``: the process's place in the run
    (``distributed.Dist``; None: asked of the process group)."""
    from tqdm import tqdm

    from . import distributed as dist

    ctx = ctx or dist.context()
    sharded = ctx.enabled
    for m in metrics.values():
        m.reset()
    was_training = model.training
    model.eval()
    count = 0
    parts: list[tuple[torch.Tensor, torch.Tensor, list[Any], int]] = []
    local_skipped: list[tuple[str, str]] = []
    with torch.inference_mode(), tqdm(total=total, desc=desc, disable=None if ctx.is_main else True,
                                      leave=False, file=sys.stderr, dynamic_ncols=True) as bar:
        for batch in batches:
            local_skipped.extend(tuple(s) for s in batch.get("skipped") or [])
            labels = batch.get("label")
            if labels is None or len(labels) == 0:  # every sample of the batch was skipped
                bar.update(1)
                continue
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                scores = model.predict(batch["inputs"])
            check_scores(scores, model, batch=len(labels), views=_views(batch["inputs"]))
            scores = scores.float().cpu()
            if not bool(torch.isfinite(scores).all()):
                from .errors import TrainingError

                files = [m.get("filename", "?") for m in batch.get("meta") or []]
                raise TrainingError(
                    f"the model's scores are NaN or infinite ({desc}, videos {', '.join(files[:4]) or '?'}): "
                    "its weights are broken (a diverged run?); no metric is computed from them")
            views = _views(batch["inputs"]) or 1
            records = list(batch.get("records") or [None] * len(labels))
            if sharded:
                parts.append((scores, labels.cpu(), records, views))
            else:
                for m in metrics.values():
                    m.update(scores, labels)
                count += len(labels)
                _add_dump(dump, records, labels.cpu(), scores, views)
            bar.update(1)
    model.train(was_training)
    if sharded:
        mine = (torch.cat([p[0] for p in parts]) if parts else None,
                torch.cat([p[1] for p in parts]) if parts else None, local_skipped,
                [r for p in parts for r in p[2]], [p[3] for p in parts for _ in p[2]])
        local_skipped = []
        for scores, labels, rank_skipped, records, views in dist.all_gather(mine):
            local_skipped.extend(tuple(s) for s in rank_skipped)
            if scores is None:
                continue
            for m in metrics.values():
                m.update(scores, labels)
            count += len(labels)
            if dump is not None:
                for i, v in enumerate(views):
                    _add_dump(dump, records[i:i + 1], labels[i:i + 1], scores[i:i + 1], v)
    if skipped is not None:
        skipped.extend(local_skipped)
    if not count:  # every rank knows the gathered count: they all raise together
        from .errors import UnreadableSplitError

        raise UnreadableSplitError(desc, local_skipped)
    result = _merge_metrics(metrics)
    result["samples"] = float(count)
    return result


def _add_dump(dump: list[dict[str, Any]] | None, records: list[Any], labels: torch.Tensor,
              scores: torch.Tensor, views: int) -> None:
    if dump is None:
        return
    for record, label, row in zip(records, labels, scores):
        dump.append({"record": record, "label": label, "scores": row, "views": views})


def save_metric_files(metrics: Mapping[str, Any], directory: Path, classes: list[str]) -> list[Path]:
    """Let metrics that write files (``save(directory, classes)``) write them into
    ``directory`` (created first: the Metric contract promises it exists)."""
    savers = [m for m in metrics.values() if hasattr(m, "save")]
    if savers:
        Path(directory).mkdir(parents=True, exist_ok=True)
    return [Path(m.save(Path(directory), classes)) for m in savers]


def check_classes(trained: list[str], data: list[str], checkpoint: str | Path, split: str) -> None:
    """CheckpointError when the checkpoint's classes are not the data's: the metrics would
    compare label numbers that mean different things. Data without class names (labels
    only, classes "0".."n-1") must fit in the checkpoint's classes."""
    from .errors import CheckpointError

    if not trained or not data or trained == data:
        return
    numbered = data == [str(i) for i in range(len(data))]
    if numbered and len(data) <= len(trained):
        return
    if numbered:
        raise CheckpointError(
            f"{checkpoint} was trained on {len(trained)} classes but data.{split} has labels up to "
            f"{len(data) - 1}; test it on data labelled like its training data")
    diff = [f"label {i}: checkpoint {a!r}, data {b!r}" for i, (a, b) in enumerate(zip(trained, data)) if a != b]
    raise CheckpointError(
        f"{checkpoint} was trained on {len(trained)} classes, data.{split} has {len(data)} "
        + (f"({'; '.join(diff[:3])})" if diff else "(the same names up to the shorter list)")
        + ": its scores would be matched to the wrong labels. Test it on a split with the same "
        "label map")


def _check_root(data: dict[str, Any], file: str | None, run_dir: Path) -> None:
    """A DataError that says how to point at the data when ``data.root`` is not here: the
    ``--set data.root=...`` override, or the run's resolved.toml (the root it trained on)."""
    from .._data.build import resolve_root
    from .._errors import DataError

    given = (data.get("data") or {}).get("root")
    root = resolve_root(given, file)
    if Path(root).is_dir():
        return
    hint = "pass --set data.root=PATH"
    resolved = run_dir / "resolved.toml"
    if resolved.is_file():
        try:
            from .._recipe import load_recipe

            trained_on = (load_recipe(resolved).data.get("data") or {}).get("root")
        except Exception:  # an unreadable resolved.toml: the plain hint
            trained_on = None
        hint += (f", or test with the run's own recipe, {resolved}"
                 + (f" (it trained on data.root = {trained_on!r})" if trained_on else ""))
    raise DataError(f"data.root {given!r} of {file or 'the recipe'} does not exist here "
                    f"({Path(root).absolute()}); {hint}")


def dump_records(rows: list[dict[str, Any]], dataset: Any) -> list[dict[str, Any]]:
    """``zelda test --dump``'s JSON records, one per scored video, in evaluation order:
    ``video`` (its path), ``source`` (where the annotation lists it), ``start``/``end``
    (seconds, for a clip cut from a longer video), ``label`` (the class index, or the
    sorted list of them for a multi-label dataset), ``scores`` (the averaged scores the
    metrics saw, one per class) and ``views`` (how many were averaged)."""
    records = getattr(dataset, "records", [])
    sources = getattr(dataset, "sources", None) or []
    spans = getattr(dataset, "spans", None) or []
    out = []
    for row in rows:
        i, label = row["record"], row["label"]
        rec: dict[str, Any] = {"video": records[i][0] if i is not None and i < len(records) else None,
                               "source": sources[i] if i is not None and i < len(sources) else None}
        if i is not None and i < len(spans) and spans[i] != (None, None):
            rec["start"], rec["end"] = spans[i]
        rec["label"] = ([int(j) for j in torch.nonzero(label > 0).flatten()] if label.dim() == 1
                        else int(label))
        rec["scores"] = [float(x) for x in row["scores"].tolist()]
        rec["views"] = int(row["views"])
        out.append(rec)
    return out


def test_checkpoint(recipe: Any, checkpoint: str | Path, *, split: str = "test", out: str | Path | None = None,
                    device: str | None = None, dump: str | Path | None = None) -> dict[str, Any]:
    """Evaluate ``checkpoint`` on ``split`` of ``recipe`` (a ``Recipe``) with the recipe's
    model, metrics and ``[train]`` device/precision settings. Writes the report (default:
    ``<run dir>/<split>_metrics.json``) and metric files (``<its folder>/<split>/``); with
    ``dump``, one JSON line per video there (:func:`dump_records`)."""
    from .._data import build_dataloader, build_dataset
    from . import checkpoint as ckpt_io
    from . import distributed as dist
    from .assemble import seed_everything, splits_of
    from .build import build_metrics, build_model, load_weights, model_table
    from .config import parse_train_config
    from .device import place_model
    from .files import write_json
    from .workdir import prepare_work_dir

    data = copy.deepcopy(recipe.data)
    file = recipe.file
    cfg = parse_train_config(data.get("train"), file=file)
    ctx = dist.setup(device or cfg.device)
    seed_everything(int(data.get("seed", 0)))
    splits = splits_of(data)
    if split not in splits:
        raise RecipeError(f"the recipe has no [data.{split}] split to test on (it has: "
                          f"{', '.join(sorted(splits)) or 'none'}); use --split", file=file, key=f"data.{split}")
    ck_dir = Path(checkpoint).resolve().parent
    run_dir = ck_dir.parent if ck_dir.name == "checkpoints" else ck_dir
    out_path = Path(out) if out else run_dir / f"{split}_metrics.json"
    if ctx.is_main:  # before, not after, the evaluation; never onto an input
        from .._data import split_folders
        from .._outputs import check_output_file, check_output_folder

        inputs = [("the checkpoint", checkpoint), ("the recipe", file)]
        folders = split_folders(data, file)
        check_output_file(out_path, inputs=inputs, input_folders=folders)
        if dump is not None:
            if Path(dump).absolute() == out_path.absolute():
                raise ZeldaError(f"--dump {dump} is also the metrics file (--out): name another file")
            check_output_file(dump, inputs=inputs, input_folders=folders, option="--dump")
        check_output_folder(out_path.parent / split, inputs=inputs, input_folders=folders,
                            option="the metrics folder of --out")
        prepare_work_dir(out_path.parent, what="the metrics folder", option="--out")
    # rank 0 reads the checkpoint and sends it: only rank 0 needs the file
    ckpt = dist.broadcast(ckpt_io.load_checkpoint(checkpoint) if ctx.is_main else None)
    _check_root(data, file, run_dir)
    ds = build_dataset(data, split, recipe_file=file)
    if ckpt.get("classes") and hasattr(ds, "adopt_classes"):
        ds.adopt_classes(list(ckpt["classes"]))  # class names found in the split, numbered as trained
    check_classes(list(ckpt.get("classes") or []), list(getattr(ds, "classes", []) or []), checkpoint, split)
    classes = list(ckpt.get("classes") or getattr(ds, "classes", []) or [])
    model = build_model(model_table(data, len(classes) or None, file=file,
                                    multi_label=bool(getattr(ds, "multi_label", False))), file=file)
    load_weights(model, ckpt, checkpoint)
    place = place_model(model, device=device or cfg.device, amp=cfg.amp, channels_last=cfg.channels_last)
    said: list[str] = []
    metrics = build_metrics(data, file=file, needed_for=split, num_classes=len(classes) or None, notes=said)
    loader = build_dataloader(data, split, ds, shuffle=False, world=ctx.world_size, rank=ctx.rank)
    skipped: list[tuple[str, str]] = []
    rows: list[dict[str, Any]] | None = [] if dump is not None else None
    t0 = time.perf_counter()
    result = evaluate(model, loader, metrics, device=place.device, dtype=place.dtype, total=len(loader),
                      desc=split, skipped=skipped, dump=rows, ctx=ctx)
    files = save_metric_files(metrics, out_path.parent / split, classes) if ctx.is_main else []
    report = {"checkpoint": str(checkpoint), "split": split, "seconds": round(time.perf_counter() - t0, 2),
              "metrics": result, "files": [str(f) for f in files], "skipped": [list(s) for s in skipped]}
    if ctx.is_main and rows is not None:
        import json

        from .._outputs import write_output

        text = "".join(json.dumps(r, allow_nan=False) + "\n" for r in dump_records(rows, ds))
        write_output(dump, text, option="--dump", inputs=inputs)
        report["dump"] = str(dump)
    if ctx.is_main:
        write_json(out_path, report)
    report["out"] = str(out_path)
    report["warnings"] = said  # for the command to show (not in the file)
    return report
