"""Class probabilities for video files with a checkpoint (``zelda predict``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError


def predict_videos(checkpoint: str | Path, videos: list[str], *, top_k: int = 5, device: str = "auto",
                   decoder: str | None = None) -> list[dict[str, Any]]:
    """Class probabilities for each video, with the checkpoint's test (else val) pipeline."""
    from .._data import decoder_spec, sample_rng
    from .._pipeline import Pipeline
    from .build import model_from_checkpoint

    model, ckpt = model_from_checkpoint(checkpoint, device=device)
    recipe = ckpt["recipe"]
    classes = list(ckpt.get("classes") or [])
    data = recipe.get("data") or {}
    split = next((s for s in ("test", "val") if isinstance(data.get(s), dict)), None)
    if split is None:
        raise CheckpointError(f"{checkpoint}: its recipe has no [data.test] or [data.val] pipeline to "
                              "prepare videos with")
    pipeline = Pipeline.from_config(data[split].get("pipeline", []), key=f"data.{split}.pipeline")
    spec = decoder_spec(data)
    if decoder:
        spec = {"type": decoder}
    seed = int(recipe.get("seed", 0))
    dev = next(model.parameters()).device
    results = []
    for i, video in enumerate(videos):
        sample = {"filename": str(Path(video).resolve()), "label": -1, "index": i, "epoch": 0,
                  "rng": sample_rng(seed, 0, i), "test_mode": True, "decoder": spec,
                  "start_index": 0, "modality": "RGB"}
        if not Path(video).is_file():
            results.append({"video": video, "error": "file not found"})
            continue
        try:
            out = pipeline(sample)
        except Exception as exc:  # one bad video does not stop the others
            reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
            results.append({"video": video, "error": str(reason)})
            continue
        inputs = out["inputs"].unsqueeze(0)
        with torch.inference_mode():
            scores = model.predict(inputs.to(dev))[0].float().cpu()
        if model.average_clips != "prob":
            scores = scores.softmax(-1)
        k = min(top_k, scores.numel())
        probs, idx = scores.topk(k)
        results.append({"video": video, "predictions": [
            {"label": classes[j] if j < len(classes) else str(j), "index": int(j), "probability": float(p)}
            for p, j in zip(probs.tolist(), idx.tolist())]})
    return results
