"""Skipped-sample summaries for logs and the end of a run."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable


def summarize_skipped(skipped: Iterable[tuple[str, str]]) -> str:
    """One line per skipped file (with how often), or "" when nothing was skipped."""
    counts: OrderedDict[tuple[str, str], int] = OrderedDict()
    for filename, reason in skipped:
        counts[(filename, reason)] = counts.get((filename, reason), 0) + 1
    if not counts:
        return ""
    total = sum(counts.values())
    lines = [f"skipped {total} sample{'s' if total != 1 else ''} ({len(counts)} file"
             f"{'s' if len(counts) != 1 else ''}):"]
    for (filename, reason), n in counts.items():
        lines.append(f"  {filename}: {reason}" + (f" (x{n})" if n > 1 else ""))
    return "\n".join(lines)
