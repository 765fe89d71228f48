"""Helpers for the data-pipeline tests: a dataset of "index" videos (media: media.py)."""

from __future__ import annotations

from pathlib import Path

from media import make_video


def make_dataset(root: Path, names: dict[str, int], frames: int = 30,
                 ann: str = "ann.txt") -> Path:
    """Videos under root/videos and an annotation list root/ann.txt ("name label")."""
    lines = []
    for name, label in names.items():
        make_video(root / "videos" / name, frames=frames, pattern="index")
        lines.append(f"{name} {label}")
    (root / ann).write_text("\n".join(lines) + "\n")
    return root
