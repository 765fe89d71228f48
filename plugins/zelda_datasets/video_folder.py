"""``video_folder``: ``root/prefix/class_name/*.mp4``, classes sorted by name."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from zelda_core.api import DataError, VideoDataset, VideoOpener, expect_dir

VIDEO_EXTENSIONS = [".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v"]


class VideoFolder(VideoDataset):
    """One folder per class under ``root/prefix``; label i = i-th folder name in sorted order.

    ``extensions``: which files count as videos (case-insensitive). Hidden files and
    folders are ignored. ``flat = true``: the videos sit directly in ``root/prefix``, one
    class named after the folder, every label 0 (benchmarks, prediction).
    """

    def __init__(self, *, root: str, pipeline: Callable | list | None,
                 decoder: VideoOpener | dict[str, Any] | None = None, on_error: str = "raise",
                 prefix: str = "", extensions: list[str] = VIDEO_EXTENSIONS,
                 flat: bool = False) -> None:
        super().__init__(pipeline=pipeline, decoder=decoder, on_error=on_error, root=root)
        base = os.path.join(root, prefix)
        problem = expect_dir(base, "video folder")
        if problem:
            raise DataError(f"{problem} (expected {base}/<class_name>/*.mp4)")
        exts = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
        if flat:
            self.classes = [os.path.basename(os.path.normpath(base))]
            folders = [(0, base, "")]
        else:
            self.classes = sorted(d.name for d in os.scandir(base)
                                  if d.is_dir() and not d.name.startswith("."))
            folders = [(i, os.path.join(base, name), name) for i, name in enumerate(self.classes)]
        if not self.classes:
            raise DataError(f"{base} has no class folder (expected {base}/<class_name>/*.mp4)")
        for label, folder, name in folders:
            files = sorted(e.name for e in os.scandir(folder)
                           if e.is_file() and not e.name.startswith(".")
                           and e.name.lower().endswith(exts))
            for f in files:
                self.records.append((os.path.join(folder, f), label))
                self.sources.append(os.path.join(name, f))
        if not self.records:
            raise DataError(f"no video with extension {', '.join(exts)} in the class folders of {base}")
