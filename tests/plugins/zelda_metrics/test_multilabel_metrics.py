"""Multi-label metrics: AP equal to scikit-learn's, mAP macro/micro, per-class file, top-k recall."""

from __future__ import annotations

import csv
import math

import pytest

torch = pytest.importorskip("torch")

from zelda_metrics.classification import TopKAccuracy  # noqa: E402
from zelda_metrics.multilabel import MeanAveragePrecision, TopKRecall  # noqa: E402

pytestmark = pytest.mark.decoder_independent


def _fixed(n: int = 40, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    scores = torch.rand(n, k, generator=g)
    scores[:10] = torch.round(scores[:10] * 4) / 4  # ties: AP's operating points per distinct score
    targets = (torch.rand(n, k, generator=g) < 0.35).float()
    targets[0] = 1.0  # every class has a positive
    return scores, targets


def test_average_precision_equals_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    scores, targets = _fixed()
    m = MeanAveragePrecision()
    m.update(scores[:17], targets[:17])  # accumulated over batches
    m.update(scores[17:], targets[17:])
    per_class = sk.average_precision_score(targets.numpy(), scores.numpy(), average=None)
    assert m.per_class() == pytest.approx(list(per_class), abs=1e-6)
    out = m.compute()
    assert out["mAP"] == pytest.approx(sk.average_precision_score(targets.numpy(), scores.numpy(),
                                                                  average="macro"), abs=1e-6)
    assert out["mAP_micro"] == pytest.approx(sk.average_precision_score(targets.numpy(), scores.numpy(),
                                                                        average="micro"), abs=1e-6)


def test_map_of_single_label_indices_is_one_hot_ap():
    sk = pytest.importorskip("sklearn.metrics")
    scores = torch.tensor([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.6, 0.1, 0.3]])
    labels = torch.tensor([0, 1, 2, 1])
    m = MeanAveragePrecision()
    m.update(scores, labels)
    onehot = torch.nn.functional.one_hot(labels, 3).numpy()
    assert m.compute()["mAP"] == pytest.approx(sk.average_precision_score(onehot, scores.numpy()), abs=1e-6)


def test_class_without_positive_is_left_out_and_saved_blank(tmp_path):
    scores = torch.tensor([[0.9, 0.1, 0.3], [0.2, 0.8, 0.4], [0.6, 0.7, 0.5]])
    targets = torch.tensor([[1.0, 0, 0], [0, 1, 0], [1, 0, 0]])
    m = MeanAveragePrecision()
    m.update(scores, targets)
    aps = m.per_class()
    assert math.isnan(aps[2]) and aps[0] == 1.0 and aps[1] == 1.0
    assert m.compute()["mAP"] == 1.0  # the mean of classes 0 and 1, not (1 + 1 + 0) / 3
    path = m.save(tmp_path, ["walk", "run", "jump"])
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["class", "average_precision", "positives"]
    assert rows[1:] == [["walk", "1.0", "2"], ["run", "1.0", "1"], ["jump", "", "0"]]


def test_top_k_recall():
    scores = torch.tensor([[0.9, 0.8, 0.1, 0.0], [0.1, 0.2, 0.3, 0.9], [0.5, 0.5, 0.5, 0.5]])
    targets = torch.tensor([[1.0, 0, 1, 0], [0, 0, 1, 1], [0, 0, 0, 0]])  # the last has no label
    m = TopKRecall(k=[1, 2, 3])
    m.update(scores, targets)
    # sample 0: ranks 0,1,2 -> hits 1,1,2 of 2; sample 1: ranks 3,2 -> 1,2,2 of 2
    assert m.compute() == {"recall_top1": 0.5, "recall_top2": 0.75, "recall_top3": 1.0}
    with pytest.raises(ValueError, match="k must be"):
        TopKRecall(k=[0])


def test_single_label_metric_refuses_multi_hot_labels():
    scores, targets = _fixed(4, 3)
    with pytest.raises(ValueError, match="multi-hot.*mean_average_precision"):
        TopKAccuracy(k=1).update(scores, targets)
