"""``video_csv``: a CSV or TSV annotation table with a header, columns named in the recipe.

Labels are integers or class names; time columns cut a clip out of a longer video at
sampling. Kinetics' official tables (``label,youtube_id,time_start,time_end,split``) work
with ``path_template`` naming the files.
"""

from __future__ import annotations

import csv
import math
import os
import string
from collections.abc import Callable, Sequence
from typing import Any

from zelda_core.api import (
    DataError,
    VideoDataset,
    VideoOpener,
    check_files,
    expect_dir,
    parse_label,
    raise_problems,
    read_label_map,
    read_list_lines,
)


class VideoCsv(VideoDataset):
    """Videos listed in the table ``ann_file`` (relative to ``root``), under ``root/prefix``.

    The first row names the columns. ``path_column`` holds each video's path, or
    ``path_template`` builds it from the row (``"{label}/{youtube_id}_{time_start:06d}.mp4"``:
    any column by name; integer cells are integers, so format specs work). ``label_column``
    holds the label: integers (classes "0".."max", or ``label_map``/``num_classes`` as
    ``video_list``) or class names (``label_map`` fixes their order; without it the classes
    are the names found, sorted). ``multi_label``: several labels per cell, split on
    ``label_separator``. ``start_column``/``end_column``: seconds; the clip is cut from the
    video at sampling (an empty cell: the video's start or end). ``delimiter``: default a
    tab for ``.tsv`` files, else a comma.
    """

    def __init__(self, ann_file: str, *, root: str, pipeline: Callable | list | None,
                 decoder: VideoOpener | dict[str, Any] | None = None, on_error: str = "raise",
                 prefix: str = "", path_column: str = "path", path_template: str | None = None,
                 label_column: str = "label", start_column: str | None = None,
                 end_column: str | None = None, delimiter: str | None = None,
                 label_map: str | None = None, num_classes: int | None = None,
                 multi_label: bool = False, label_separator: str = ";") -> None:
        super().__init__(pipeline=pipeline, decoder=decoder, on_error=on_error, root=root)
        if delimiter is not None and len(delimiter) != 1:
            raise ValueError(f"delimiter must be one character, got {delimiter!r}")
        if not label_separator:
            raise ValueError("label_separator must not be empty")
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        if path_template is not None:
            _check_template(path_template)
        self.multi_label = bool(multi_label)
        self.ann_file = ann_path = os.path.join(root, ann_file)
        prefix_dir = os.path.join(root, prefix)
        problem = expect_dir(prefix_dir, "prefix folder") if prefix else None
        if problem:
            raise DataError(f"{problem} (data root {root!r} + prefix {prefix!r})")
        sep = delimiter or ("\t" if ann_file.lower().endswith(".tsv") else ",")
        header, rows = _read_table(ann_path, sep)
        columns = {"path_column": None if path_template else path_column, "label_column": label_column,
                   "start_column": start_column, "end_column": end_column}
        wanted = [(k, v) for k, v in columns.items() if v is not None]
        wanted += [("path_template", f) for f in _template_fields(path_template or "")]
        unknown = [f"{key} names column {name!r}" for key, name in wanted if name not in header]
        if unknown:
            raise DataError(f"{ann_path}:1: {'; '.join(unknown)}, but the header has "
                            f"{', '.join(map(repr, header))}; name one of those in the recipe")
        problems: list[str] = []
        raw: list[tuple[str, list[str]]] = []  # (path, label cells)
        spans: list[tuple[float | None, float | None]] = []
        sources: list[str] = []
        for line, cells in rows:
            where = f"{ann_path}:{line}"
            if len(cells) != len(header):
                problems.append(f"{where}: {len(cells)} fields, the header has {len(header)}")
                continue
            row = dict(zip(header, cells))
            try:
                path = _path(row, path_column, path_template)
            except (ValueError, IndexError) as exc:
                problems.append(f"{where}: path_template {path_template!r}: {exc}")
                continue
            if not path:
                problems.append(f"{where}: empty path")
                continue
            cell = row[label_column].strip()
            labels = [t.strip() for t in cell.split(label_separator)] if multi_label else [cell]
            labels = [t for t in labels if t]
            if not labels:
                problems.append(f"{where}: no label in column {label_column!r}")
                continue
            span, bad = _span(row, start_column, end_column)
            if bad:
                problems.append(f"{where}: {bad}")
                continue
            raw.append((os.path.join(prefix_dir, path), labels))
            spans.append(span)
            sources.append(where)
        records, self.classes, numeric, label_problems = _labels(
            raw, sources, os.path.join(root, label_map) if label_map else None, num_classes)
        self.names = not numeric  # class names in the table: a split may adopt another's order
        problems += label_problems
        missing = check_files([(p, 0) for p, _ in raw], sources)
        self.missing = missing if on_error == "skip" else []
        if on_error != "skip":
            problems += missing
        problems.sort(key=_line_order)
        raise_problems(problems, f"annotation table {ann_path}",
                       f"Fix or remove these rows (columns named in the recipe: {label_column!r} and "
                       f"{path_template or path_column!r}; paths relative to data.root + prefix).")
        if not records:
            raise DataError(f"annotation table {ann_path} lists no video")
        if not self.multi_label:
            records = [(p, ls[0]) for p, ls in records]
        self.records, self.sources = records, sources
        self.spans = spans if any(s != (None, None) for s in spans) else None
        self.data_files = [ann_path] + ([os.path.join(root, label_map)] if label_map else [])

    def adopt_classes(self, classes: Sequence[str]) -> None:
        """Number this split's labels as ``classes`` (the training split's, or a
        checkpoint's): class names found here and sorted may be fewer than there. DataError
        naming the row of a name that ``classes`` lacks."""
        if not self.names or list(classes) == self.classes:
            return
        index = {name: i for i, name in enumerate(classes)}
        problems = []
        remapped = []
        for (path, label), src in zip(self.records, self.sources):
            mine = label if isinstance(label, tuple) else (label,)
            names = [self.classes[i] for i in mine]
            absent = [n for n in names if n not in index]
            if absent:
                problems.append(f"{src}: class {absent[0]!r} is not one of the model's "
                                f"{len(classes)} classes")
                continue
            new = tuple(sorted(index[n] for n in names))
            remapped.append((path, new if isinstance(label, tuple) else new[0]))
        raise_problems(problems, f"annotation table {self.ann_file}",
                       "Every class of this split must be one the training split has.")
        self.records, self.classes = remapped, list(classes)


def _read_table(path: str, sep: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line number, cells)]) of a CSV/TSV file; blank rows skipped."""
    text = "\n".join(read_list_lines(path, "annotation table", "ann_file is relative to data.root"))
    reader = csv.reader(text.splitlines(), delimiter=sep)
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = [c.strip() for c in cells]
                continue
            rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    if header is None:
        raise DataError(f"annotation table {path} is empty; its first row names the columns")
    return header, rows


def _template_fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def _check_template(template: str) -> None:
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"path_template {template!r}: {exc}") from None
    if not any(name for _, name, _, _ in fields):
        raise ValueError(f"path_template {template!r} names no column (use {{column}})")
    for _, name, _, _ in fields:
        if name is not None and (not name or not name.isidentifier()):
            raise ValueError(f"path_template {template!r}: {{{name}}} is not a column name")


class _CellFormatter(string.Formatter):
    """Cells are text; a numeric format spec (``{time_start:06d}``) reads an integer cell
    as an integer (and keeps ``{youtube_id}`` exactly as written, leading zeros too)."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec and isinstance(value, str):
            text = value.strip()
            if parse_label(text) is not None:
                return format(int(text), format_spec)
            try:
                number = float(text)
            except ValueError:
                raise ValueError(f"{value!r} is not a number for the format {format_spec!r}") from None
            return format(int(number) if number.is_integer() and format_spec[-1:] in "dxXob" else number,
                          format_spec)
        return format(value.strip() if isinstance(value, str) else value, format_spec)


def _path(row: dict[str, str], column: str, template: str | None) -> str:
    if template is None:
        return row[column].strip()
    return _CellFormatter().format(template, **row).strip()


def _span(row: dict[str, str], start: str | None, end: str | None
          ) -> tuple[tuple[float | None, float | None], str | None]:
    """((start, end) seconds, None) or ((None, None), why the cells are bad)."""
    out: list[float | None] = []
    for column in (start, end):
        text = row[column].strip() if column else ""
        if not text:
            out.append(None)
            continue
        try:
            value = float(text)
        except ValueError:
            return (None, None), f"{column} {text!r} is not a number of seconds"
        if not math.isfinite(value) or value < 0:
            return (None, None), f"{column} {text!r} is not a time in seconds (>= 0)"
        out.append(value)
    if out[0] is not None and out[1] is not None and out[1] <= out[0]:
        return (None, None), f"{end} {out[1]:g} is not after {start} {out[0]:g}"
    return (out[0], out[1]), None


def _labels(raw: list[tuple[str, list[str]]], sources: list[str], map_file: str | None,
            num_classes: int | None) -> tuple[list[tuple[str, tuple[int, ...]]], list[str], bool, list[str]]:
    """(records with label tuples, classes, whether the labels are integers, "file:line: ..."
    problems) from the label cells. Integer labels without a label map or ``num_classes``
    must stay below twice the number of distinct labels (as ``video_list``: a larger one is
    likely a typo that would silently become the class count)."""
    numeric = all(parse_label(t) is not None for _, ls in raw for t in ls)
    names = read_label_map(map_file) if map_file else None
    if names is not None and num_classes is not None and num_classes != len(names):
        raise DataError(f"num_classes = {num_classes} but label map {map_file} names {len(names)} classes")
    if numeric:
        limit = len(names) if names is not None else num_classes
        values = {int(t) for _, ls in raw for t in ls}
        if limit is None:
            implied = 2 * len({v for v in values if v >= 0})
            top = max((v for v in values if v < implied), default=0)
        classes = names or [str(i) for i in range(limit if limit is not None else top + 1)]
        index = {str(i): i for i in range(len(classes))}
    else:
        classes = names or sorted({t for _, ls in raw for t in ls})
        index = {name: i for i, name in enumerate(classes)}
    records, problems = [], []
    for (path, labels), src in zip(raw, sources):
        if any("\n" in t or "\r" in t for t in labels):
            problems.append(f"{src}: a class name with a line break (a label map holds one name a line)")
            continue
        unknown = [t for t in labels if (str(int(t)) if numeric else t) not in index]
        if unknown:
            why = (f"label {unknown[0]} is outside [0, {len(classes)})" if numeric else
                   f"class {unknown[0]!r} is not in the label map {map_file}")
            if numeric and names is None and num_classes is None and int(unknown[0]) >= 0:
                distinct = implied // 2
                why = (f"label {unknown[0]} is far beyond the {distinct} distinct label"
                       f"{'s' if distinct != 1 else ''} of this table (without a label map or "
                       f"num_classes, labels must be below twice that, {implied}); a typo? If "
                       "not, name the classes with label_map or num_classes")
            problems.append(f"{src}: {why}")
            continue
        records.append((path, tuple(sorted({index[str(int(t)) if numeric else t] for t in labels}))))
    return records, classes, numeric, problems


def _line_order(problem: str) -> tuple[str, int]:
    head = problem.split(": ", 1)[0]
    file, _, line = head.rpartition(":")
    return (file, int(line)) if line.isdigit() else (head, 0)
