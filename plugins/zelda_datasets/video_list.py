"""``video_list``: MMAction2's annotation format, "relative/path.mp4 label" per line."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
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

_MULTI = re.compile(r"(.*?\S)((?:\s+-?[0-9]+)+)")
"""A multi-label line: the path (it may contain spaces), then one or more integer labels."""

DEFAULT_LABEL_MAP = "label_map.txt"
"""Used from ``root`` when the recipe names neither ``label_map`` nor ``num_classes``."""


def parse_annotations(path: str, prefix_dir: str, multi_label: bool = False
                      ) -> tuple[list[tuple[str, Any]], list[str], list[str]]:
    """(records, sources, problems) of an annotation file.

    Lines are "path label", split on the last whitespace (paths may contain spaces);
    blank lines and lines starting with ``#`` are skipped. With ``multi_label`` a line is
    "path l1 l2 ..." (MMAction2's ``multi_class`` lists): the labels are the integers
    after the path, and a record's label is the sorted tuple of them.
    """
    lines = read_list_lines(path, "annotation file", "ann_file is relative to data.root")
    form = "'relative/path.mp4 label1 label2 ...'" if multi_label else "'relative/path.mp4 label'"
    records: list[tuple[str, Any]] = []
    sources, problems = [], []
    for n, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        where = f"{path}:{n}"
        if multi_label:
            m = _MULTI.fullmatch(text)
            if m is None:
                last = text.rsplit(None, 1)[-1]
                problems.append(f"{where}: label {last!r} is not an integer (line {text!r}; "
                                f"expected {form})" if " " in text or "\t" in text else
                                f"{where}: expected {form}, got {text!r}")
                continue
            labels = tuple(sorted({int(t) for t in m.group(2).split()}))
            records.append((os.path.join(prefix_dir, m.group(1)), labels))
            sources.append(where)
            continue
        parts = text.rsplit(None, 1)
        if len(parts) != 2:
            problems.append(f"{where}: expected {form}, got {text!r}")
            continue
        name, label_text = parts
        label = parse_label(label_text)
        if label is None:
            problems.append(f"{where}: label {label_text!r} is not an integer "
                            f"(line {text!r}; expected {form})")
            continue
        records.append((os.path.join(prefix_dir, name), label))
        sources.append(where)
    return records, sources, problems


class VideoList(VideoDataset):
    """Videos listed in ``ann_file`` (relative to ``root``), under ``root/prefix``.

    ``label_map``: a file of class names, line i = label i (relative to ``root``); or
    ``num_classes``; without either, ``root/label_map.txt`` names the classes when it
    exists (``classes_note`` then says so, for the run's log), else classes are "0".."max
    label" and a label at or beyond twice the count of distinct labels is refused as a
    likely typo. Validation at construction lists every malformed line, missing video,
    label outside the classes and video listed again with another label as file:line. With ``on_error = "skip"`` missing videos are not
    an error: they are kept in ``missing`` and skipped like any unreadable video.
    """

    def __init__(self, ann_file: str, *, root: str, pipeline: Callable | list | None,
                 decoder: VideoOpener | dict[str, Any] | None = None, on_error: str = "raise",
                 prefix: str = "", label_map: str | None = None,
                 num_classes: int | None = None, multi_label: bool = False) -> None:
        super().__init__(pipeline=pipeline, decoder=decoder, on_error=on_error, root=root)
        self.multi_label = bool(multi_label)
        ann_path = os.path.join(root, ann_file)
        prefix_dir = os.path.join(root, prefix)
        problem = expect_dir(prefix_dir, "prefix folder") if prefix else None
        if problem:
            raise DataError(f"{problem} (data root {root!r} + prefix {prefix!r})")
        records, sources, problems = parse_annotations(ann_path, prefix_dir, self.multi_label)
        self.classes_note: str | None = None
        found = os.path.join(root, DEFAULT_LABEL_MAP)
        map_file = None
        if label_map is not None:
            map_file = os.path.join(root, label_map)
        elif num_classes is None and os.path.isfile(found):
            map_file = found
        if map_file is not None:
            self.classes = read_label_map(map_file)
            if label_map is None:
                self.classes_note = f"class names from {found} (the recipe names no label_map)"
            if num_classes is not None and num_classes != len(self.classes):
                raise DataError(f"num_classes = {num_classes} but label map {label_map} "
                                f"names {len(self.classes)} classes")
        elif num_classes is not None:
            if num_classes < 1:
                raise ValueError(f"num_classes must be positive, got {num_classes}")
            self.classes = [str(i) for i in range(num_classes)]
        label_problems, bad = _label_problems(records, sources, len(self.classes) or None, map_file)
        problems += label_problems + _conflicts(records, sources, bad)
        missing = check_files(records, sources)
        self.missing = missing if on_error == "skip" else []
        if on_error != "skip":  # with "skip" they fail to open like any unreadable video
            problems += missing
        problems.sort(key=_line_order)
        form = "relative/path.mp4 label1 label2 ..." if self.multi_label else "relative/path.mp4 label"
        hint = (f"Fix or remove these lines (format: '{form}', relative to "
                "data.root + prefix).")
        if missing and on_error != "skip":
            hint += (" With data.on_error = \"skip\", missing videos are skipped and reported "
                     "like unreadable ones instead.")
        raise_problems(problems, f"annotation file {ann_path}", hint)
        if not records:
            raise DataError(f"annotation file {ann_path} lists no video")
        if not self.classes:  # labels beyond implied_limit were reported above
            top = max((one for i, (_, label) in enumerate(records) if i not in bad
                       for one in _each(label)), default=0)
            self.classes = [str(i) for i in range(top + 1)]
        self.records, self.sources = records, sources
        self.ann_file = ann_path
        self.data_files = [ann_path] + ([map_file] if map_file else [])


def _each(label: Any) -> tuple[int, ...]:
    """A record's labels: the tuple of a multi-label record, else the one label."""
    return label if isinstance(label, tuple) else (label,)


def implied_limit(records: list[tuple[str, Any]]) -> int:
    """Without a label map or ``num_classes``, labels must be below twice the count of
    distinct labels: a larger one (``typing2.mp4 11`` in a two-class list) is almost always
    a typo, and it would silently become the class count."""
    return 2 * len({one for _, label in records for one in _each(label) if one >= 0})


def _label_problems(records: list[tuple[str, Any]], sources: list[str], limit: int | None,
                    map_file: str | None) -> tuple[list[str], set[int]]:
    """("file:line: ..." for every label outside the label map, ``num_classes``, or (with
    neither) beyond :func:`implied_limit`; the indices of those records)."""
    problems, bad = [], set()
    implied = implied_limit(records) if limit is None else None
    for i, ((_, labels), src) in enumerate(zip(records, sources)):
        for label in _each(labels):
            if limit is not None and not 0 <= label < limit:
                why = (f"the label map {map_file} names {limit} classes; fix the line, or set "
                       "num_classes if this list does not use that label map" if map_file
                       else f"num_classes = {limit}")
                problems.append(f"{src}: label {label} is outside [0, {limit}) ({why})")
            elif limit is None and label < 0:
                problems.append(f"{src}: label {label} is outside [0, ...)")
            elif implied is not None and label >= implied:
                distinct = implied // 2
                problems.append(f"{src}: label {label} is far beyond the {distinct} distinct label"
                                f"{'s' if distinct != 1 else ''} of this list (without a label map or "
                                f"num_classes, labels must be below twice that, {implied}); a typo? "
                                f"If not, name the classes with label_map or num_classes")
            else:
                continue
            bad.add(i)
    return problems, bad


def _conflicts(records: list[tuple[str, Any]], sources: list[str], bad: set[int]) -> list[str]:
    """"file:line: ..." for every video listed again with a different (valid) label."""
    first: dict[str, tuple[Any, str]] = {}
    problems = []
    for i, ((path, label), src) in enumerate(zip(records, sources)):
        if i in bad:
            continue
        seen = first.setdefault(os.path.normpath(path), (label, src))
        if seen[0] != label:
            what = "labels" if isinstance(label, tuple) else "label"
            show = " ".join(map(str, _each(label))), " ".join(map(str, _each(seen[0])))
            problems.append(f"{src}: video {path} has {what} {show[0]} here but {show[1]} at "
                            f"{seen[1]}; list a video once" + (" with all its labels" if what == "labels"
                                                               else "; a video has one label"))
    return problems


def _line_order(problem: str) -> tuple[str, int]:
    head = problem.split(": ", 1)[0]
    file, _, line = head.rpartition(":")
    return (file, int(line)) if line.isdigit() else (head, 0)
