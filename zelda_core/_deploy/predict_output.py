"""``zelda predict`` results as a table, JSON, JSON lines or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from .predict import VideoResult
from .windows import clock

FORMATS = ("table", "json", "jsonl", "csv")
CSV_COLUMNS = ("video", "start", "end", "rank", "label", "index", "probability")


def records(results: list[VideoResult]) -> Iterator[dict[str, Any]]:
    """JSON-lines records: ``error``, ``video`` (whole-video top-k), ``window`` and
    ``timeline`` (one per video, after its windows)."""
    for r in results:
        if r.error:
            yield {"type": "error", "video": r.video, "error": r.error}
        elif r.predictions is not None:
            yield {"type": "video", "video": r.video, "predictions": r.predictions}
        else:
            for w in r.windows:
                yield {"type": "window", "video": r.video, **w}
            yield {"type": "timeline", "video": r.video, "duration": r.duration,
                   "segments": r.timeline, "text": r.timeline_text}


def as_json(results: list[VideoResult]) -> str:
    """A JSON list, one object per video (``zelda predict --json`` before windows existed)."""
    out = []
    for r in results:
        d: dict[str, Any] = {"video": r.video}
        if r.error:
            d["error"] = r.error
        elif r.predictions is not None:
            d["predictions"] = r.predictions
        else:
            d.update(duration=r.duration, windows=r.windows, timeline=r.timeline,
                     timeline_text=r.timeline_text)
        out.append(d)
    return json.dumps(out, indent=2) + "\n"


def as_jsonl(results: list[VideoResult]) -> str:
    return "".join(json.dumps(rec) + "\n" for rec in records(results))


def as_csv(results: list[VideoResult]) -> str:
    """One row per (video or window, rank); start/end are empty for whole videos. Videos
    that failed are left out (they are reported on stderr)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in results:
        if r.error:
            continue
        spans = ([(None, None, r.predictions)] if r.predictions is not None else
                 [(x["start"], x["end"], x["predictions"]) for x in r.windows])
        for start, end, preds in spans:
            for rank, p in enumerate(preds, 1):
                w.writerow([r.video, "" if start is None else start, "" if end is None else end,
                            rank, p["label"], p["index"], f"{p['probability']:.6g}"])
    return buf.getvalue()


def as_table(results: list[VideoResult]) -> str:
    lines = []
    for r in results:
        lines.append(r.video)
        if r.error:
            lines.append(f"  error: {r.error}")
        elif r.predictions is not None:
            lines += [f"  {p['probability']:7.2%}  {p['label']}" for p in r.predictions]
            if not r.predictions:
                lines.append("  (no label at or above the threshold)")
        else:
            for x in r.windows:
                shown = "  ".join(f"{p['probability']:7.2%}  {p['label']}" for p in x["predictions"][:1]
                                  ) or "(no label at or above the threshold)"
                lines.append(f"  {clock(x['start'])}-{clock(x['end'])}  {shown}")
            lines.append(f"  timeline: {r.timeline_text}")
    return "\n".join(lines) + "\n"


def render(results: list[VideoResult], fmt: str) -> str:
    return {"table": as_table, "json": as_json, "jsonl": as_jsonl, "csv": as_csv}[fmt](results)
