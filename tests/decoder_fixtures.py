"""Helpers for the decoder tests: the shared video corpus and its thumbnails (media: media.py)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
from media import full_decode  # noqa: F401 - old import path (tests on other branches); use media

REPO = Path(__file__).resolve().parents[1]

# keep the packet-index disk cache of test runs out of ~/.cache
os.environ.setdefault("ZELDA_CACHE_DIR", tempfile.mkdtemp(prefix="zelda-test-cache-"))


def shared_videos() -> Path:
    """``../shared/data/videos`` (or under $ZELDA_SHARED), whether or not it exists."""
    return Path(os.environ.get("ZELDA_SHARED", REPO.parent / "shared")) / "data" / "videos"


def manifest() -> dict[str, dict]:
    """MANIFEST.json of the shared decoder corpus, or {} when the corpus is absent."""
    path = shared_videos() / "MANIFEST.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def thumb16(rgb: np.ndarray) -> np.ndarray:
    """The corpus README's 16x16 luma thumbnail of one RGB frame (flattened, float)."""
    rgb = rgb.astype(np.float64)
    y = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.array(
        [[cell.mean() for cell in np.array_split(row, 16, axis=1)] for row in np.array_split(y, 16, axis=0)]
    ).ravel()
