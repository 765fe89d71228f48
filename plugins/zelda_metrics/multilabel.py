"""Multi-label metrics: mean average precision (macro and micro) and top-k recall.

Labels are (B, K) multi-hot rows (a multi-label dataset) or (B,) class indices (read as
one-hot rows, so these metrics also score single-label data). Average precision follows
scikit-learn's ``average_precision_score``: the scores sorted from the highest, one
operating point per distinct score, AP = sum over them of (R_n - R_{n-1}) * P_n (no
interpolation).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from .classification import top_ks


def targets_of(scores: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores float64 (B, K), targets float64 (B, K) of 0/1) from multi-hot or index labels."""
    scores = torch.as_tensor(scores).detach().cpu()
    labels = torch.as_tensor(labels).detach().cpu()
    if scores.dim() != 2:
        raise ValueError(f"scores must be (B, K), got shape {tuple(scores.shape)}")
    if labels.dim() == 2:
        if labels.shape != scores.shape:
            raise ValueError(f"multi-hot labels of shape {tuple(labels.shape)} for scores of "
                             f"shape {tuple(scores.shape)}")
        return scores.double(), (labels > 0).double()
    labels = labels.reshape(-1).long()
    if labels.numel() != scores.shape[0]:
        raise ValueError(f"{scores.shape[0]} rows of scores but {labels.numel()} labels")
    if labels.numel() and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        raise ValueError(f"labels must be in [0, {scores.shape[1]})")
    onehot = torch.zeros(scores.shape, dtype=torch.float64)
    onehot[torch.arange(labels.numel()), labels] = 1.0
    return scores.double(), onehot


def average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """AP of one ranking (1-D scores, 0/1 targets) as scikit-learn defines it; NaN when
    no target is positive (scikit-learn returns 0 there, with a warning)."""
    positives = float(targets.sum())
    if positives == 0:
        return math.nan
    order = torch.argsort(scores, descending=True, stable=True)
    s, y = scores[order], targets[order]
    tps = torch.cumsum(y, 0)
    fps = torch.cumsum(1 - y, 0)
    last = torch.cat([torch.nonzero(s[1:] != s[:-1]).flatten(), torch.tensor([len(s) - 1])])
    tps, fps = tps[last], fps[last]  # one operating point per distinct score
    precision = tps / (tps + fps)
    recall = tps / positives
    steps = torch.diff(recall, prepend=recall.new_zeros(1))
    return float((steps * precision).sum())


class _Collect:
    """Keeps every (scores, targets) row: AP needs the whole ranking."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._scores: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []

    def update(self, scores: torch.Tensor, labels: torch.Tensor) -> None:
        s, t = targets_of(scores, labels)
        if s.shape[0]:
            self._scores.append(s)
            self._targets.append(t)

    def _all(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        if not self._scores:
            return None
        return torch.cat(self._scores), torch.cat(self._targets)


class MeanAveragePrecision(_Collect):
    """``mAP``: the mean over classes of their average precision (macro; classes with no
    positive sample are left out of the mean, as in MMAction2, where scikit-learn would
    count them as 0), and ``mAP_micro``: the AP of every (sample, class) pair ranked
    together. ``save(directory, classes)`` writes each class's AP and positives to
    ``<directory>/<filename>`` (CSV)."""

    def __init__(self, filename: str = "average_precision.csv") -> None:
        if not filename or os.sep in filename or (os.altsep and os.altsep in filename):
            raise ValueError(f"filename must be a plain file name, got {filename!r}")
        self.filename = filename
        super().__init__()

    def per_class(self) -> list[float]:
        """Each class's AP (NaN for a class without a positive sample)."""
        both = self._all()
        if both is None:
            return []
        s, t = both
        return [average_precision(s[:, k], t[:, k]) for k in range(s.shape[1])]

    def compute(self) -> dict[str, float]:
        both = self._all()
        if both is None:
            return {"mAP": math.nan, "mAP_micro": math.nan}
        aps = [a for a in self.per_class() if not math.isnan(a)]
        s, t = both
        return {"mAP": sum(aps) / len(aps) if aps else math.nan,
                "mAP_micro": average_precision(s.flatten(), t.flatten())}

    def save(self, directory: str | os.PathLike, classes: Sequence[str] | None = None) -> Path:
        """One row per class: its name, AP (empty without a positive sample), positives."""
        both = self._all()
        aps = self.per_class()
        positives = both[1].sum(0).long().tolist() if both is not None else []
        names = list(classes or [])
        names += [str(i) for i in range(len(names), len(aps))]
        path = Path(directory) / self.filename
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["class", "average_precision", "positives"])
            for name, ap, n in zip(names, aps, positives):
                w.writerow([name, "" if math.isnan(ap) else repr(ap), n])
        return path


class TopKRecall(_Collect):
    """``recall_top{k}`` for each k: per sample, the share of its true labels among its k
    best scores, averaged over the samples that have a true label.

    ``k`` None: 1 and 5; with ``num_classes``, a k not below the class count (always 1.0)
    follows the rule of ``top_k_accuracy`` (left out of the default, warned about when
    asked for)."""

    def __init__(self, k: int | Sequence[int] | None = None, num_classes: int | None = None) -> None:
        self.k = top_ks(k, num_classes, "recall_top")
        self.num_classes = num_classes
        super().__init__()

    def compute(self) -> dict[str, float]:
        both = self._all()
        if both is None:
            return {f"recall_top{k}": math.nan for k in self.k}
        s, t = both
        has = t.sum(1) > 0
        s, t = s[has], t[has]
        if not len(s):
            return {f"recall_top{k}": math.nan for k in self.k}
        order = torch.argsort(s, dim=1, descending=True, stable=True)
        ranked = torch.gather(t, 1, order)
        out = {}
        for k in self.k:
            hits = ranked[:, : min(k, s.shape[1])].sum(1)
            out[f"recall_top{k}"] = float((hits / t.sum(1)).mean())
        return out
