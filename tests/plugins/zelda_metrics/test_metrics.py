"""Top-k accuracy, mean class accuracy and the confusion matrix."""

from __future__ import annotations

import csv

import pytest

torch = pytest.importorskip("torch")

from zelda_metrics.classification import (  # noqa: E402
    ConfusionMatrix,
    MeanClassAccuracy,
    TopKAccuracy,
)
from zelda_metrics.multilabel import TopKRecall  # noqa: E402

SCORES = torch.tensor(
    [
        [0.7, 0.2, 0.1],  # pred 0, label 0
        [0.5, 0.3, 0.2],  # pred 0, label 1 (label 2nd)
        [0.1, 0.2, 0.7],  # pred 2, label 2
        [0.6, 0.1, 0.3],  # pred 0, label 1 (label 3rd)
    ]
)
LABELS = torch.tensor([0, 1, 2, 1])


def test_top_k_accuracy_accumulates_over_batches():
    m = TopKAccuracy(k=[1, 2, 5])
    m.update(SCORES[:2], LABELS[:2])
    m.update(SCORES[2:], LABELS[2:])
    assert m.compute() == {"top1": 0.5, "top2": 0.75, "top5": 1.0}
    m.reset()
    m.update(SCORES[:1], LABELS[:1])
    assert m.compute()["top1"] == 1.0


def test_top_k_matches_mmaction_definition():
    np = pytest.importorskip("numpy")
    m = TopKAccuracy(k=[1, 2])
    m.update(SCORES, LABELS)
    # MMAction2: argsort the scores, hit when the label is among the last k
    s, y = SCORES.numpy(), LABELS.numpy()
    for k in (1, 2):
        ref = np.mean([y[i] in np.argsort(s[i])[-k:] for i in range(len(y))])
        assert m.compute()[f"top{k}"] == pytest.approx(ref)


def test_top_k_rejects_bad_k_and_shapes():
    with pytest.raises(ValueError, match="k must be"):
        TopKAccuracy(k=[0])
    with pytest.raises(ValueError, match="labels"):
        TopKAccuracy(k=1).update(SCORES, LABELS[:3])


def test_mean_class_accuracy_is_mean_recall_over_true_classes():
    m = MeanClassAccuracy()
    m.update(SCORES, LABELS)
    # recalls: class 0 = 1/1, class 1 = 0/2, class 2 = 1/1
    assert m.compute()["mean_class_accuracy"] == pytest.approx(2 / 3)
    m.reset()
    # class 2 predicted but absent from the labels: ignored here (MMAction2 would count a 0)
    m.update(torch.tensor([[0.9, 0.0, 0.1], [0.1, 0.0, 0.9]]), torch.tensor([0, 0]))
    assert m.compute()["mean_class_accuracy"] == pytest.approx(0.5)


def test_confusion_matrix_csv(tmp_path):
    m = ConfusionMatrix(num_classes=3)
    m.update(SCORES, LABELS)
    assert m.compute() == {}
    assert m.matrix.tolist() == [[1, 0, 0], [2, 0, 0], [0, 0, 1]]
    path = m.save(tmp_path, ["a", "b", "c"])
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["true \\ predicted", "a", "b", "c"]
    assert rows[2] == ["b", "2", "0", "0"]
    with pytest.raises(ValueError, match="plain file name"):
        ConfusionMatrix(filename="../x.csv")


@pytest.mark.parametrize(("num_classes", "ks"), [(None, [1, 5]), (1, [1]), (2, [1]), (5, [1]), (6, [1, 5])])
def test_default_k_leaves_out_ks_not_below_the_class_count(num_classes, ks, recwarn):
    """top-k with k >= K is 1.0 for every video: the default ks drop it, top1 stays."""
    assert TopKAccuracy(num_classes=num_classes).k == ks
    assert TopKRecall(num_classes=num_classes).k == ks
    assert not recwarn.list


@pytest.mark.parametrize("metric", [TopKAccuracy, TopKRecall])
def test_an_asked_k_not_below_the_class_count_is_kept_with_a_warning(metric):
    with pytest.warns(UserWarning, match=r"^k = \[1, 2, 3\]: (recall_)?top2, (recall_)?top3 are 1\.0 "
                                         r"for every video with 2 classes"):
        m = metric(k=[1, 2, 3], num_classes=2)
    assert m.k == [1, 2, 3]
    m.update(SCORES[:, :2], torch.tensor([0, 1, 0, 1]))
    out = m.compute()
    assert out[f"{'recall_' if metric is TopKRecall else ''}top3"] == 1.0


def test_asked_ks_below_the_class_count_say_nothing(recwarn):
    assert TopKAccuracy(k=[1, 2], num_classes=3).k == [1, 2]
    assert not recwarn.list
