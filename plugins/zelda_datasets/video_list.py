"""``video_list``: MMAction2's annotation format, "relative/path.mp4 label" per line."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from zelda_core.api import (
    DataError,
    VideoDataset,
    VideoOpener,
    check_files,
    parse_label,
    raise_problems,
    read_label_map,
    read_list_lines,
)

DEFAULT_LABEL_MAP = "label_map.txt"
"""Used from ``root`` when the recipe names neither ``label_map`` nor ``num_classes``."""


def parse_annotations(path: str, prefix_dir: str) -> tuple[list[tuple[str, int]], list[str], list[str]]:
    """(records, sources, problems) of an annotation file.

    Lines are "path label", split on the last whitespace (paths may contain spaces);
    blank lines and lines starting with ``#`` are skipped.
    """
    lines = read_list_lines(path, "annotation file", "ann_file is relative to data.root")
    records, sources, problems = [], [], []
    for n, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.rsplit(None, 1)
        where = f"{path}:{n}"
        if len(parts) != 2:
            problems.append(f"{where}: expected 'relative/path.mp4 label', got {text!r}")
            continue
        name, label_text = parts
        label = parse_label(label_text)
        if label is None:
            problems.append(f"{where}: label {label_text!r} is not an integer "
                            f"(line {text!r}; expected 'relative/path.mp4 label')")
            continue
        records.append((os.path.join(prefix_dir, name), label))
        sources.append(where)
    return records, sources, problems


class VideoList(VideoDataset):
    """Videos listed in ``ann_file`` (relative to ``root``), under ``root/prefix``.

    ``label_map``: a file of class names, line i = label i (relative to ``root``); or
    ``num_classes``; without either, ``root/label_map.txt`` names the classes when it
    exists and covers every label (``classes_note`` then says so, for the run's log), else
    classes are "0".."max label". Validation at
    construction lists every malformed line, missing video and label outside
    ``[0, num_classes)`` as file:line. With ``on_error = "skip"`` missing videos are not
    an error: they are kept in ``missing`` and skipped like any unreadable video.
    """

    def __init__(self, ann_file: str, *, root: str, pipeline: Callable | list | None,
                 decoder: VideoOpener | dict[str, Any] | None = None, on_error: str = "raise",
                 prefix: str = "", label_map: str | None = None,
                 num_classes: int | None = None) -> None:
        super().__init__(pipeline=pipeline, decoder=decoder, on_error=on_error, root=root)
        ann_path = os.path.join(root, ann_file)
        prefix_dir = os.path.join(root, prefix)
        if prefix and not os.path.isdir(prefix_dir):
            raise DataError(f"prefix folder not found: {prefix_dir} (data root {root!r} + "
                            f"prefix {prefix!r})")
        records, sources, problems = parse_annotations(ann_path, prefix_dir)
        self.classes_note: str | None = None
        found = os.path.join(root, DEFAULT_LABEL_MAP)
        if label_map is None and num_classes is None and os.path.isfile(found):
            names = read_label_map(found)
            if all(0 <= label < len(names) for _, label in records):
                self.classes = names
                self.classes_note = (f"class names from {found} (the recipe names no "
                                     "label_map)")
        if label_map is not None:
            self.classes = read_label_map(os.path.join(root, label_map))
            if num_classes is not None and num_classes != len(self.classes):
                raise DataError(f"num_classes = {num_classes} but label map {label_map} "
                                f"names {len(self.classes)} classes")
        elif num_classes is not None:
            if num_classes < 1:
                raise ValueError(f"num_classes must be positive, got {num_classes}")
            self.classes = [str(i) for i in range(num_classes)]
        limit = len(self.classes) if self.classes else None
        for (_, label), src in zip(records, sources):
            if label < 0 or (limit is not None and label >= limit):
                bound = f"[0, {limit})" if limit is not None else "[0, ...)"
                problems.append(f"{src}: label {label} is outside {bound}")
        missing = check_files(records, sources)
        self.missing = missing if on_error == "skip" else []
        if on_error != "skip":  # with "skip" they fail to open like any unreadable video
            problems += missing
        problems.sort(key=_line_order)
        hint = ("Fix or remove these lines (format: 'relative/path.mp4 label', relative to "
                "data.root + prefix).")
        if missing and on_error != "skip":
            hint += (" With data.on_error = \"skip\", missing videos are skipped and reported "
                     "like unreadable ones instead.")
        raise_problems(problems, f"annotation file {ann_path}", hint)
        if not records:
            raise DataError(f"annotation file {ann_path} lists no video")
        if not self.classes:
            self.classes = [str(i) for i in range(max(label for _, label in records) + 1)]
        self.records, self.sources = records, sources
        self.ann_file = ann_path
        self.data_files = [ann_path] + ([os.path.join(root, label_map)] if label_map else [])


def _line_order(problem: str) -> tuple[str, int]:
    head = problem.split(": ", 1)[0]
    file, _, line = head.rpartition(":")
    return (file, int(line)) if line.isdigit() else (head, 0)
