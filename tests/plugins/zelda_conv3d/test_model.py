"""The Conv3d recognizer: shapes, initialization, view averaging, a toy set that it learns."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from zelda_conv3d.model import ClsHead, Conv3dTiny, Recognizer, recognizer  # noqa: E402

from zelda_core.api import Normalize  # noqa: E402


def make_model(num_classes=3, dropout=0.0, average_clips="prob"):
    return recognizer(Normalize(), Conv3dTiny(), ClsHead(num_classes, 128, dropout, average_clips))


def test_shapes_and_views():
    torch.manual_seed(0)
    m = make_model().eval()
    x = torch.randint(0, 256, (2, 3, 3, 4, 32, 32), dtype=torch.uint8)  # B=2, V=3
    scores = m(x)
    assert scores.shape == (6, 3)
    probs = m.predict(x)
    assert probs.shape == (2, 3)
    assert torch.allclose(probs.sum(1), torch.ones(2), atol=1e-5)
    # 'prob' averaging = mean of the per-view softmax
    ref = scores.softmax(-1).view(2, 3, 3).mean(1)
    assert torch.allclose(probs, ref, atol=1e-6)
    m.head.average_clips = "score"
    assert torch.allclose(m.predict(x), scores.view(2, 3, 3).mean(1), atol=1e-6)


def test_backbone_architecture_and_init():
    torch.manual_seed(0)
    b = Conv3dTiny()
    c1, c2 = b.conv1[0], b.conv[0]
    assert (c1.in_channels, c1.out_channels, c1.kernel_size, c1.stride, c1.padding) == (
        3,
        64,
        (3, 7, 7),
        (1, 2, 2),
        (1, 3, 3),
    )
    assert (c2.in_channels, c2.out_channels, c2.kernel_size, c2.stride, c2.padding) == (
        64,
        128,
        (3, 3, 3),
        (2, 2, 2),
        (1, 1, 1),
    )
    assert b.maxpool.kernel_size == (1, 3, 3) and b.maxpool.stride == (1, 2, 2)
    # Kaiming normal fan_out: std = sqrt(2 / (out_channels * kernel volume))
    fan_out = 128 * 27
    assert abs(c2.weight.std().item() - (2 / fan_out) ** 0.5) < 0.1 * (2 / fan_out) ** 0.5
    assert torch.all(b.conv1[1].weight == 1) and torch.all(b.conv1[1].bias == 0)
    out = b(torch.zeros(1, 3, 16, 224, 224))
    assert out.shape == (1, 128, 8, 28, 28)
    h = ClsHead(400, 128)
    assert abs(h.fc.weight.std().item() - 0.01) < 0.001 and torch.all(h.fc.bias == 0)


def test_normalize_uses_0_255_scale_and_channels_last():
    p = Normalize(mean=(10, 20, 30), std=(2, 4, 5), channels_last=True)
    x = torch.full((1, 1, 3, 2, 4, 4), 50, dtype=torch.uint8)
    y = p(x)
    assert y.dtype == torch.float32 and y.shape == (1, 3, 2, 4, 4)
    assert torch.allclose(y[0, :, 0, 0, 0], torch.tensor([20.0, 7.5, 4.0]))
    assert y.is_contiguous(memory_format=torch.channels_last_3d)
    with pytest.raises(ValueError, match="channels"):
        p(torch.zeros(1, 1, 4, 2, 4, 4, dtype=torch.uint8))


def test_recognizer_rejects_unbuilt_parts():
    with pytest.raises(ValueError, match="backbone"):
        recognizer(Normalize(), {"type": "conv3d_tiny"}, ClsHead(2))
    assert isinstance(make_model(), Recognizer)


def test_loss_falls_on_separable_toy_set():
    """Class 0 clips are dark, class 1 bright: a few Adam steps must separate them."""
    torch.manual_seed(0)
    m = make_model(num_classes=2)
    gen = torch.Generator().manual_seed(1)
    dark = torch.randint(0, 80, (4, 1, 3, 4, 32, 32), generator=gen)
    bright = torch.randint(170, 256, (4, 1, 3, 4, 32, 32), generator=gen)
    x = torch.cat([dark, bright]).to(torch.uint8)
    y = torch.tensor([0] * 4 + [1] * 4)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    losses = []
    for _ in range(8):
        loss = m.loss(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.5, losses
    m.eval()
    assert (m.predict(x).argmax(1) == y).all()


def test_multi_view_training_repeats_labels():
    m = make_model(num_classes=2)
    x = torch.randint(0, 256, (2, 2, 3, 2, 16, 16), dtype=torch.uint8)
    loss = m.loss(x, torch.tensor([0, 1]))
    assert loss.dim() == 0 and torch.isfinite(loss)


def test_cpu_bf16_autocast_runs():
    m = make_model(num_classes=2)
    x = torch.randint(0, 256, (1, 1, 3, 2, 16, 16), dtype=torch.uint8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = m.loss(x, torch.tensor([1]))
    assert loss.dtype == torch.float32
    loss.backward()
