"""Class probabilities for video files with a checkpoint (the function behind ``zelda predict``
for whole videos; windows, exported models and batching live in ``zelda_core._deploy.predict``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def predict_videos(checkpoint: str | Path, videos: list[str], *, top_k: int = 5, device: str = "auto",
                   decoder: str | None = None) -> list[dict[str, Any]]:
    """Class probabilities for each video, with the checkpoint's test (else val) pipeline:
    ``{"video", "predictions": [{"label", "index", "probability"}]}`` or ``{"video", "error"}``."""
    from .._deploy.predict import load_source, predict

    source = load_source(checkpoint, device=device, decoder=decoder)
    results = predict(source, list(videos), top_k=top_k, workers=0, progress=False,
                      warn=lambda _m: None)
    return [{"video": r.video, "error": r.error} if r.error else
            {"video": r.video, "predictions": r.predictions} for r in results]
