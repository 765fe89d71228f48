"""The targets contract on the Conv3d recognizer: class indices, soft (B, K) rows (mixup,
cutmix, label smoothing) and multi-label multi-hot rows, each view trained on its sample's
target; the conformance kit's target clauses catch models that get them wrong."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from zelda_core import build  # noqa: E402
from zelda_testing import ConformanceError, check_model  # noqa: E402

pytestmark = pytest.mark.decoder_independent


def _model(**head):
    torch.manual_seed(0)
    return build("models", {
        "type": "recognizer", "preprocessor": {"type": "normalize"},
        "backbone": {"type": "conv3d_tiny", "channels": [4, 8]},
        "head": {"type": "cls_head", "num_classes": 4, "dropout": 0.0, **head}}).eval()


def _batch():
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (3, 2, 3, 4, 32, 32), dtype=torch.uint8, generator=g)


def test_soft_targets_give_the_soft_cross_entropy_per_view():
    model, x = _model(), _batch()
    t = torch.tensor([[0.7, 0.3, 0, 0], [0, 0, 0.25, 0.75], [0.1, 0.2, 0.3, 0.4]])
    with torch.no_grad():
        scores = model(x)  # (B*V, K), views of a sample adjacent
        want = -(t.repeat_interleave(2, 0) * scores.log_softmax(-1)).sum(-1).mean()
        got = model.loss(x, t)
        hard = model.loss(x, torch.tensor([0, 3, 2]))
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(hard, F.cross_entropy(scores, torch.tensor([0, 0, 3, 3, 2, 2])), atol=1e-6)


def test_multi_label_head_uses_bce_and_averages_sigmoids():
    model, x = _model(multi_label=True), _batch()
    assert model.multi_label is True
    t = torch.tensor([[1.0, 0, 1, 0], [0, 0, 0, 1], [1, 1, 1, 1]])
    with torch.no_grad():
        scores = model(x)
        want = F.binary_cross_entropy_with_logits(scores, t.repeat_interleave(2, 0))
        assert torch.allclose(model.loss(x, t), want, atol=1e-6)
        assert torch.allclose(model.predict(x), scores.sigmoid().view(3, 2, 4).mean(1), atol=1e-6)
    check_model(model, num_classes=4)


def test_the_kit_passes_soft_targets_and_catches_models_that_drop_them():
    check_model(_model(), num_classes=4)

    class ArgmaxLoss(torch.nn.Module):  # soft rows turned into class indices
        def __init__(self, inner):
            super().__init__()
            self.inner, self.num_classes, self.average_clips = inner, 4, "prob"

        def loss(self, inputs, targets):
            if targets.is_floating_point():
                targets = targets.argmax(-1)
            return self.inner.loss(inputs, targets)

        def predict(self, inputs):
            return self.inner.predict(inputs)

    with pytest.raises(ConformanceError) as err:
        check_model(ArgmaxLoss(_model()), num_classes=4)
    assert any("mixed target rows" in f for f in err.value.failures), err.value.failures

    class IndicesOnly(ArgmaxLoss):
        def loss(self, inputs, targets):
            return self.inner.head.loss(self.inner(inputs), targets.long())

    with pytest.raises(ConformanceError) as err:
        check_model(IndicesOnly(_model()), num_classes=4)
    assert any("soft targets" in f for f in err.value.failures), err.value.failures
