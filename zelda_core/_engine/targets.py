"""What the training loss is computed against: the batch's labels as target rows, with
label smoothing, the batch transforms (mixup, cutmix) and class weights.

With none of them the model gets the class indices, exactly as before. Otherwise the
labels become float (B, K) rows on the training device (one-hot, smoothed by
``train.label_smoothing``), each ``[[train.batch_transforms]]`` step mixes the moved batch
and the rows with a generator seeded by (seed, epoch, step, rank) (``_data.rng.batch_rng``:
a resumed run draws the same values), and ``train.class_weights`` scales them. Metrics
never see any of it: validation and test use the loader's labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .._contracts import broken, describe
from .._errors import RecipeError, ZeldaError

BATCH_CLAUSE = "transform(inputs, targets, rng) returns (inputs, targets) of the same shapes and dtypes"


def inverse_frequency(labels: Sequence[int], num_classes: int) -> list[float]:
    """scikit-learn's "balanced" weights, ``n / (K * n_k)``; a class without a training
    sample counts as one (it is never a hard target; smoothed rows still name it)."""
    counts = [0] * num_classes
    for label in labels:
        counts[int(label)] += 1
    n = len(labels)
    return [n / (num_classes * max(c, 1)) for c in counts]


def build_batch_transforms(tables: list[dict[str, Any]] | None, *, file: str | None = None) -> list[Any]:
    """Each ``[[train.batch_transforms]]`` table built through the registry."""
    from .._registry import build

    return [build("batch_transforms", table, key=f"train.batch_transforms[{i}]", file=file)
            for i, table in enumerate(tables or [])]


class Targets:
    """Turns a training batch's (inputs, labels) into what ``model.loss`` is given."""

    def __init__(self, transforms: Sequence[Any] = (), *, num_classes: int = 0,
                 label_smoothing: float = 0.0, class_weights: Sequence[float] | None = None,
                 seed: int = 0, rank: int = 0, multi_label: bool = False):
        self.transforms = list(transforms)
        self.num_classes, self.label_smoothing = num_classes, float(label_smoothing)
        self.weights = None if class_weights is None else torch.tensor(list(class_weights), dtype=torch.float32)
        self.seed, self.rank, self.multi_label = seed, rank, multi_label
        self.lines = self._describe()  # for the run log: fixed once built

    @classmethod
    def from_config(cls, cfg: Any, *, classes: Sequence[str], labels: Sequence[Any], seed: int,
                    rank: int, multi_label: bool = False, file: str | None = None,
                    transforms: Sequence[Any] | None = None) -> Targets:
        """The targets of a run: ``cfg`` is its TrainConfig, ``labels`` the training
        records' labels (for ``class_weights = "inverse_frequency"``); ``transforms`` the
        batch transforms when already built (else built here)."""
        k = len(classes)
        for key, on in (("label_smoothing", bool(cfg.label_smoothing)),
                        ("class_weights", cfg.class_weights is not None)):
            if on and multi_label:
                raise RecipeError(f"train.{key} is for single-label data, but the training set is "
                                  "multi-label (its targets are multi-hot rows); leave it out",
                                  file=file, key=f"train.{key}")
        weights = cfg.class_weights
        if weights == "inverse_frequency":
            weights = inverse_frequency(labels, k)
        elif weights is not None and len(weights) != k:
            raise RecipeError(f"train.class_weights has {len(weights)} weights but the data has {k} "
                              f"classes ({', '.join(classes[:5])}{', ...' if k > 5 else ''}): give one "
                              "per class in their order, or \"inverse_frequency\"",
                              file=file, key="train.class_weights")
        if transforms is None:
            transforms = build_batch_transforms(cfg.batch_transforms, file=file)
        return cls(transforms, num_classes=k,
                   label_smoothing=cfg.label_smoothing, class_weights=weights, seed=seed,
                   rank=rank, multi_label=multi_label)

    @property
    def soft(self) -> bool:
        """Whether the model is given float (B, K) rows rather than the class indices."""
        return bool(self.transforms or self.label_smoothing or self.weights is not None)

    def _describe(self) -> list[str]:
        """One line per setting, for the run log."""
        lines = []
        if self.label_smoothing:
            lines.append(f"label smoothing {self.label_smoothing:g}")
        for t in self.transforms:
            lines.append(f"batch transform {t!r}")
        if self.weights is not None:
            shown = ", ".join(f"{w:.3g}" for w in self.weights.tolist()[:8])
            lines.append(f"class weights [{shown}{', ...' if len(self.weights) > 8 else ''}]")
        return lines

    def __call__(self, inputs: torch.Tensor, labels: torch.Tensor, *, epoch: int, step: int,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) for step ``step`` (0-based, in the epoch) of ``epoch``."""
        if not self.soft:
            return inputs, labels
        inputs = inputs.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        if labels.is_floating_point():  # multi-hot rows
            rows = labels.float()
        else:
            rows = torch.nn.functional.one_hot(labels.long(), self.num_classes).float()
            if self.label_smoothing:  # timm's mixup_target: on 1 - e + e/K, off e/K
                rows = rows * (1.0 - self.label_smoothing) + self.label_smoothing / self.num_classes
        if self.transforms:
            from .._data.rng import batch_rng

            rng = batch_rng(self.seed, epoch, step, self.rank)
            for t in self.transforms:
                inputs, rows = self._checked(t, inputs, rows, rng)
        if self.weights is not None and rows.shape[0]:
            # torch's class-weighted cross-entropy: sum_i sum_k w_k t_ik CE_ik / sum_i sum_k w_k t_ik
            rows = rows * self.weights.to(rows.device)
            rows = rows * (rows.shape[0] / rows.sum())
        return inputs, rows

    @staticmethod
    def _checked(t: Any, inputs: torch.Tensor, rows: torch.Tensor, rng: Any) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            out = t(inputs, rows, rng)
        except ZeldaError:
            raise
        except Exception as exc:  # the plugin's failure, named, not a traceback mid-epoch
            raise broken(t, "batch_transforms", BATCH_CLAUSE,
                         f"it raised {type(exc).__name__}: {exc}") from exc
        ok = isinstance(out, tuple) and len(out) == 2 and all(isinstance(v, torch.Tensor) for v in out)
        if ok:
            new_inputs, new_rows = out
            ok = (new_inputs.shape == inputs.shape and new_inputs.dtype == inputs.dtype
                  and new_rows.shape == rows.shape and new_rows.is_floating_point())
        if not ok:
            got = (f"({describe(out[0])}, {describe(out[1])})" if isinstance(out, tuple) and len(out) == 2
                   else describe(out))
            raise broken(t, "batch_transforms", BATCH_CLAUSE,
                         f"given inputs {tuple(inputs.shape)} {inputs.dtype} and targets "
                         f"{tuple(rows.shape)}, it returned {got}")
        return out
