"""Classification metrics accumulated over batches of scores.

Interface (architecture.md, kind ``metrics``): ``reset()``, ``update(scores (B, K),
labels (B,))`` and ``compute() -> dict[str, float]``. A metric that also writes a file
has ``save(directory, classes) -> Path``; the engine calls it after evaluation.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import torch


def _check(scores: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    scores = torch.as_tensor(scores).detach()
    labels = torch.as_tensor(labels).detach()
    if scores.dim() != 2:
        raise ValueError(f"scores must be (B, K), got shape {tuple(scores.shape)}")
    if labels.dim() == 2 and labels.shape[0] == scores.shape[0] and labels.is_floating_point():
        raise ValueError("the labels are multi-hot rows (a multi-label dataset): this metric "
                         "scores one label per video; use mean_average_precision or top_k_recall")
    labels = labels.reshape(-1).long()
    if labels.numel() != scores.shape[0]:
        raise ValueError(f"{scores.shape[0]} rows of scores but {labels.numel()} labels")
    return scores.float().cpu(), labels.cpu()


DEFAULT_K = (1, 5)


def top_ks(k: int | Sequence[int] | None, num_classes: int | None, key: str) -> list[int]:
    """The ks a top-k metric reports, by the rule sklearn and torchmetrics users expect.

    A k that is not below the class count puts every class among the k best, so its value
    is 1.0 for every video: the default ks (``k`` None: 1 and 5) leave such a k out (top-1
    always stays); a k the caller asked for is kept, as MMAction2 does, with a warning
    (sklearn's ``top_k_accuracy_score`` warns the same way). ``key`` names the values
    (``top``, ``recall_top``) in the warning."""
    ks = list(DEFAULT_K) if k is None else [k] if isinstance(k, int) else list(k)
    if not ks or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in ks):
        raise ValueError(f"k must be a positive integer or a list of them, got {k!r}")
    if num_classes is None:
        return ks
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if k is None:
        return [v for v in ks if v == 1 or v < num_classes]
    always = [v for v in ks if v >= num_classes]
    if always:
        import warnings

        names = ", ".join(f"{key}{v}" for v in always)
        warnings.warn(
            f"k = {k!r}: {names} {'is' if len(always) == 1 else 'are'} 1.0 for every video with "
            f"{num_classes} classes (a k not below the class count puts every class among the "
            f"k best); kept as asked, as MMAction2 does. Ask for ks below {num_classes}, or "
            "leave k out to get only those", UserWarning, stacklevel=3)
    return ks


class TopKAccuracy:
    """Top-k accuracy for each k in ``k``: keys ``top{k}``.

    ``k`` None: 1 and 5. With ``num_classes`` (the engine passes the data's), a k not
    below the class count (its value is 1.0 for every video) is left out of the default
    ks and kept with a warning when asked for (see :func:`top_ks`). Without it, as in
    MMAction2, a k larger than the scores' width counts every sample as a hit.
    """

    def __init__(self, k: int | Sequence[int] | None = None, num_classes: int | None = None):
        self.k = top_ks(k, num_classes, "top")
        self.num_classes = num_classes
        self.reset()

    def reset(self) -> None:
        self._hits = dict.fromkeys(self.k, 0)
        self._count = 0

    def update(self, scores: torch.Tensor, labels: torch.Tensor) -> None:
        scores, labels = _check(scores, labels)
        if labels.numel() == 0:
            return
        kmax = min(max(self.k), scores.shape[1])
        top = scores.topk(kmax, dim=1).indices  # (B, kmax), best first
        hit = top == labels[:, None]
        for k in self.k:
            self._hits[k] += int(hit[:, : min(k, kmax)].any(dim=1).sum())
        self._count += labels.numel()

    def compute(self) -> dict[str, float]:
        if not self._count:
            return {f"top{k}": float("nan") for k in self.k}
        return {f"top{k}": self._hits[k] / self._count for k in self.k}


class _Confusion:
    """Shared accumulation of a confusion matrix (rows: true label, columns: predicted)."""

    def __init__(self, num_classes: int | None = None):
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.reset()

    def reset(self) -> None:
        self._matrix = torch.zeros((self.num_classes or 0,) * 2, dtype=torch.long)

    def update(self, scores: torch.Tensor, labels: torch.Tensor) -> None:
        scores, labels = _check(scores, labels)
        if labels.numel() == 0:
            return
        if labels.min() < 0:
            raise ValueError("labels must be non-negative class indices")
        pred = scores.argmax(dim=1)
        n = max(self._matrix.shape[0], scores.shape[1], int(labels.max()) + 1)
        if n > self._matrix.shape[0]:
            grown = torch.zeros((n, n), dtype=torch.long)
            k = self._matrix.shape[0]
            grown[:k, :k] = self._matrix
            self._matrix = grown
        self._matrix += torch.bincount(labels * n + pred, minlength=n * n).view(n, n)

    @property
    def matrix(self) -> torch.Tensor:
        """The (K, K) count matrix: ``matrix[true, predicted]``."""
        return self._matrix.clone()


class MeanClassAccuracy(_Confusion):
    """Mean over classes of per-class recall (hits / samples of that class): key
    ``mean_class_accuracy``.

    The mean runs over the classes that occur in the labels (a class absent from the
    evaluation set is ignored; this is sklearn's ``balanced_accuracy_score``). MMAction2's
    ``mean_class_accuracy`` averages over the union of true and *predicted* labels and
    counts a class that is predicted but never true as 0, so it can be lower than ours
    when the model predicts classes absent from the labels; the two agree otherwise.
    """

    def compute(self) -> dict[str, float]:
        m = self._matrix
        support = m.sum(dim=1)
        present = support > 0
        if not present.any():
            return {"mean_class_accuracy": float("nan")}
        recall = m.diag()[present].double() / support[present].double()
        return {"mean_class_accuracy": float(recall.mean())}


class ConfusionMatrix(_Confusion):
    """Confusion matrix; ``compute()`` returns no scalars, ``save(dir, classes)`` writes
    ``<dir>/<filename>``: a header row of predicted labels, then one row per true label."""

    def __init__(self, num_classes: int | None = None, filename: str = "confusion_matrix.csv"):
        super().__init__(num_classes)
        if not filename or os.sep in filename or (os.altsep and os.altsep in filename):
            raise ValueError(f"filename must be a plain file name, got {filename!r}")
        self.filename = filename

    def compute(self) -> dict[str, float]:
        return {}

    def save(self, directory: str | os.PathLike, classes: Sequence[str] | None = None) -> Path:
        """Write the matrix as CSV; label names from ``classes`` (indices when absent)."""
        m = self._matrix
        n = m.shape[0]
        names = list(classes or [])
        names += [str(i) for i in range(len(names), n)]
        if len(names) > n:
            grown = torch.zeros((len(names),) * 2, dtype=torch.long)
            grown[:n, :n] = m
            m, n = grown, len(names)
        path = Path(directory) / self.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["true \\ predicted", *names])
            for i in range(n):
                w.writerow([names[i], *m[i].tolist()])
        return path
