"""Every Markdown table in README.md and docs/ renders as one table: each row has the
header's column count (an unescaped ``|``, even inside backticks, starts a new cell, as in
GitHub's renderer), no blank line splits a table into a table and stray text, and no row is
listed twice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])
DELIMITER = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def cells(line: str) -> list[str]:
    """A row's cells, split on unescaped pipes (GitHub Flavored Markdown's rule)."""
    parts = re.split(r"(?<!\\)\|", line.strip())
    if parts and parts[0].strip() == "":
        parts = parts[1:]
    if parts and parts[-1].strip() == "":
        parts = parts[:-1]
    return [p.strip() for p in parts]


def table_problems(text: str) -> list[str]:
    """``line N: what`` for each broken table of a Markdown text (fenced code skipped)."""
    lines = text.splitlines()
    problems: list[str] = []
    fenced = False
    i = 0
    last_table_end = None  # (line index after the table, its column count)
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            i += 1
            continue
        is_row = not fenced and line.lstrip().startswith("|")
        if is_row and i + 1 < len(lines) and DELIMITER.match(lines[i + 1].strip()):
            width = len(cells(line))
            if len(cells(lines[i + 1])) != width:
                problems.append(f"line {i + 2}: delimiter row has {len(cells(lines[i + 1]))} "
                                f"columns, the header {width}")
            seen: dict[str, int] = {}
            j = i + 2
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                row = cells(lines[j])
                if len(row) != width:
                    problems.append(f"line {j + 1}: {len(row)} columns, the header has {width} "
                                    "(escape a | inside a cell as \\|)")
                key = " | ".join(row)
                if key in seen:
                    problems.append(f"line {j + 1}: the same row as line {seen[key]}")
                seen[key] = j + 1
                j += 1
            last_table_end = j
            i = j
            continue
        if is_row:
            after_blank = last_table_end is not None and all(
                not x.strip() for x in lines[last_table_end:i])
            why = ("a blank line splits the table above" if after_blank
                   else "a table row without a header and delimiter row")
            problems.append(f"line {i + 1}: {why}")
        i += 1
    return problems


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_markdown_tables_render_whole(path: Path) -> None:
    assert table_problems(path.read_text(encoding="utf-8")) == []


def test_the_checker_catches_each_break() -> None:
    good = "| a | b |\n|---|---|\n| 1 | `x\\|y` |\n"
    assert table_problems(good) == []
    split = good + "\n| 2 | 3 |\n"
    assert "a blank line splits the table" in table_problems(split)[0]
    pipe = "| a | b |\n|---|---|\n| `x|y` | 2 |\n"
    assert "3 columns, the header has 2" in table_problems(pipe)[0]
    twice = "| a | b |\n|---|---|\n| 1 | 2 |\n| 1 | 2 |\n"
    assert "the same row as line 3" in table_problems(twice)[0]
    fenced = "```\n| not | a table |\n```\n"
    assert table_problems(fenced) == []
