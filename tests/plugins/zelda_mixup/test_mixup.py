"""Mixup and cutmix against timm's formulas, recomputed here independently: the draws
(``Mixup._params_per_batch/_params_per_elem``, ``rand_bbox``, ``rand_bbox_minmax``) in
timm's order from the same seeded generator, the exact-area lambda, the targets of
``mixup_target`` with label smoothing, and the box identical in every frame."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from zelda_core import build  # noqa: E402
from zelda_core._engine.targets import Targets  # noqa: E402

pytestmark = pytest.mark.decoder_independent

B, V, C, T, H, W, K = 6, 2, 3, 4, 20, 28, 5


def timm_reference(x: np.ndarray, labels: np.ndarray, rng: np.random.Generator, *, mixup_alpha,
                   cutmix_alpha, cutmix_minmax, prob, switch_prob, mode, smoothing):
    """timm.data.mixup.Mixup.__call__, transliterated (np.random -> rng), on float64 clips
    (B, V, C, T, H, W); returns the mixed clips, the target rows and per-sample boxes."""
    if cutmix_minmax is not None:
        cutmix_alpha = 1.0
    n_img = len(x)
    h, w = x.shape[-2:]

    def bbox(lam):
        if cutmix_minmax is not None:
            ch = rng.integers(int(h * cutmix_minmax[0]), int(h * cutmix_minmax[1]))
            cw = rng.integers(int(w * cutmix_minmax[0]), int(w * cutmix_minmax[1]))
            yl, xl = rng.integers(0, h - ch), rng.integers(0, w - cw)
            yh, xh = yl + ch, xl + cw
        else:
            ratio = np.sqrt(1 - lam)
            ch, cw = int(h * ratio), int(w * ratio)
            cy, cx = rng.integers(0, h), rng.integers(0, w)
            yl, yh = np.clip(cy - ch // 2, 0, h), np.clip(cy + ch // 2, 0, h)
            xl, xh = np.clip(cx - cw // 2, 0, w), np.clip(cx + cw // 2, 0, w)
        return (int(yl), int(yh), int(xl), int(xh)), 1.0 - (yh - yl) * (xh - xl) / float(h * w)

    def per_elem(n):
        use = np.zeros(n, dtype=bool)
        if mixup_alpha > 0 and cutmix_alpha > 0:
            use = rng.random(n) < switch_prob
            lam_mix = np.where(use, rng.beta(cutmix_alpha, cutmix_alpha, size=n),
                               rng.beta(mixup_alpha, mixup_alpha, size=n))
        elif mixup_alpha > 0:
            lam_mix = rng.beta(mixup_alpha, mixup_alpha, size=n)
        else:
            use = np.ones(n, dtype=bool)
            lam_mix = rng.beta(cutmix_alpha, cutmix_alpha, size=n)
        return np.where(rng.random(n) < prob, lam_mix.astype(np.float32), np.ones(n, np.float32)), use

    orig, out = x.copy(), x.copy()
    boxes = [None] * n_img
    if mode == "batch":
        lam, use = 1.0, False
        if rng.random() < prob:
            if mixup_alpha > 0 and cutmix_alpha > 0:
                use = rng.random() < switch_prob
                lam = rng.beta(cutmix_alpha, cutmix_alpha) if use else rng.beta(mixup_alpha, mixup_alpha)
            elif mixup_alpha > 0:
                lam = rng.beta(mixup_alpha, mixup_alpha)
            else:
                use, lam = True, rng.beta(cutmix_alpha, cutmix_alpha)
        if lam != 1.0:
            if use:
                (yl, yh, xl, xh), lam = bbox(lam)
                out[..., yl:yh, xl:xh] = orig[::-1][..., yl:yh, xl:xh]
                boxes = [(yl, yh, xl, xh)] * n_img
            else:
                out = orig * lam + orig[::-1] * (1 - lam)
        lam_rows = np.full(n_img, lam)
    else:
        n = n_img // 2 if mode == "pair" else n_img
        lam_batch, use = per_elem(n)
        lam_batch = lam_batch.astype(np.float64)
        for i in range(n):
            j = n_img - i - 1
            lam = lam_batch[i]
            if lam != 1.0:
                if use[i]:
                    box, lam = bbox(lam)
                    yl, yh, xl, xh = box
                    out[i][..., yl:yh, xl:xh] = orig[j][..., yl:yh, xl:xh]
                    boxes[i] = box
                    if mode == "pair":
                        out[j][..., yl:yh, xl:xh] = orig[i][..., yl:yh, xl:xh]
                        boxes[j] = box
                    lam_batch[i] = lam
                else:
                    out[i] = orig[i] * lam + orig[j] * (1 - lam)
                    if mode == "pair":
                        out[j] = orig[j] * lam + orig[i] * (1 - lam)
        lam_rows = np.concatenate((lam_batch, lam_batch[::-1])) if mode == "pair" else lam_batch
    off = smoothing / K  # timm's mixup_target
    y1 = np.full((n_img, K), off)
    y1[np.arange(n_img), labels] = 1.0 - smoothing + off
    targets = y1 * lam_rows[:, None] + y1[::-1] * (1 - lam_rows[:, None])
    return out, targets, boxes


def _batch(seed=0):
    g = np.random.default_rng(seed)
    x = g.integers(0, 256, (B, V, C, T, H, W)).astype(np.uint8)
    return x, g.integers(0, K, B)


CASES = [
    dict(mixup_alpha=0.8, cutmix_alpha=1.0, cutmix_minmax=None, prob=1.0, switch_prob=0.5),
    dict(mixup_alpha=0.0, cutmix_alpha=1.0, cutmix_minmax=None, prob=1.0, switch_prob=0.5),
    dict(mixup_alpha=1.0, cutmix_alpha=0.0, cutmix_minmax=None, prob=0.7, switch_prob=0.5),
    dict(mixup_alpha=0.4, cutmix_alpha=0.0, cutmix_minmax=[0.3, 0.8], prob=0.9, switch_prob=0.3),
]


@pytest.mark.parametrize("mode", ["batch", "pair", "elem"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_mixup_matches_timm_on_seeded_batches(mode, case):
    params = CASES[case]
    transform = build("batch_transforms", {"type": "mixup", "mode": mode, **params})
    kinds = set()
    for seed in range(10):  # enough seeds that every branch (blend, box, no mix) is drawn
        x, labels = _batch(seed)
        want_x, want_t, boxes = timm_reference(x.astype(np.float64), labels, np.random.default_rng([7, seed]),
                                               mode=mode, smoothing=0.1, **params)
        got_x, got_t = transform(torch.from_numpy(x), _rows(labels), np.random.default_rng([7, seed]))
        assert got_x.dtype == torch.uint8 and got_x.shape == x.shape
        np.testing.assert_allclose(got_t.numpy(), want_t, atol=1e-6)
        assert np.abs(got_x.numpy().astype(np.float64) - np.rint(want_x)).max() <= 1  # float32 vs 64 ties
        for i, box in enumerate(boxes):
            if box is not None:  # cutmix pixels are copies: exact
                yl, yh, xl, xh = box
                assert np.array_equal(got_x.numpy()[i, ..., yl:yh, xl:xh], x[B - 1 - i, ..., yl:yh, xl:xh])
                kinds.add("box")
            elif not np.allclose(want_t[i], _rows(labels).numpy()[i]):
                kinds.add("blend")
    want = {"box"} if params["mixup_alpha"] == 0 else {"blend"} if params["cutmix_alpha"] == 0 and \
        params["cutmix_minmax"] is None else {"box", "blend"}
    assert want <= kinds


def _rows(labels: np.ndarray, smoothing: float = 0.1) -> torch.Tensor:
    rows = torch.nn.functional.one_hot(torch.from_numpy(labels), K).float()
    return rows * (1 - smoothing) + smoothing / K


def test_engine_targets_fold_label_smoothing_like_mixup_target():
    """Targets (the engine's) makes the rows and calls the transform with batch_rng(seed,
    epoch, step, rank): the same as timm's Mixup with label_smoothing on that generator."""
    from zelda_core._data.rng import batch_rng

    params = CASES[0]
    transform = build("batch_transforms", {"type": "mixup", "mode": "elem", **params})
    targets = Targets([transform], num_classes=K, label_smoothing=0.1, seed=5, rank=1)
    x, labels = _batch(3)
    got_x, got_t = targets(torch.from_numpy(x), torch.from_numpy(labels), epoch=2, step=9,
                           device=torch.device("cpu"))
    want_x, want_t, _ = timm_reference(x.astype(np.float64), labels, batch_rng(5, 2, 9, 1),
                                       mode="elem", smoothing=0.1, **params)
    np.testing.assert_allclose(got_t.numpy(), want_t, atol=1e-6)
    assert np.abs(got_x.numpy() - np.rint(want_x)).max() <= 1
    again_x, again_t = targets(torch.from_numpy(x), torch.from_numpy(labels), epoch=2, step=9,
                               device=torch.device("cpu"))
    assert torch.equal(again_x, got_x) and torch.equal(again_t, got_t)  # (seed, epoch, step): same draw
    other_x, _ = targets(torch.from_numpy(x), torch.from_numpy(labels), epoch=2, step=10,
                         device=torch.device("cpu"))
    assert not torch.equal(other_x, got_x)


def test_cutmix_box_is_the_same_in_every_frame_and_lambda_is_its_area():
    x = np.zeros((2, V, C, T, H, W), np.uint8)
    x[0] = np.arange(T, dtype=np.uint8)[:, None, None] * 10 + 5  # every frame its own value
    x[1] = 200
    transform = build("batch_transforms", {"type": "cutmix", "mode": "elem"})
    rows = torch.eye(2)
    for seed in range(10):
        out, t = transform(torch.from_numpy(x), rows, np.random.default_rng(seed))
        changed = (out[0].numpy() == 200)  # (V, C, T, H, W): where sample 1's pixels landed
        area = changed[0, 0, 0]
        assert all(np.array_equal(changed[v, c, f], area) for v in range(V) for c in range(C) for f in range(T))
        ys, xs = np.nonzero(area)
        if len(ys):  # one rectangle
            assert area.sum() == (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
        lam = 1 - area.sum() / (H * W)
        assert math.isclose(float(t[0, 0]), lam, abs_tol=1e-6) and math.isclose(float(t[0, 1]), 1 - lam, abs_tol=1e-6)
        keep = ~changed  # outside the box, each frame keeps its own pixels
        assert np.array_equal(out[0].numpy()[keep], x[0][keep])


def test_parameters_are_checked():
    from zelda_core import RecipeError

    for table, match in (({"mixup_alpha": -1}, "mixup_alpha must be >= 0"),
                         ({"mixup_alpha": 0, "cutmix_alpha": 0}, "nothing to do"),
                         ({"cutmix_minmax": [0.8, 0.2]}, "0 < min < max <= 1"),
                         ({"prob": 2.0}, r"prob must be in \[0, 1\]")):
        with pytest.raises(RecipeError, match=match):
            build("batch_transforms", {"type": "mixup", **table}, key="train.batch_transforms[0]")


@pytest.mark.parametrize("table", [{"type": "mixup", "mixup_alpha": 0.8, "cutmix_alpha": 1.0},
                                   {"type": "mixup", "mode": "pair", "cutmix_minmax": [0.2, 0.8]},
                                   {"type": "cutmix", "mode": "elem"}])
def test_bundled_batch_transforms_conform(table):
    from zelda_testing import check_batch_transform

    check_batch_transform(table)


def test_the_kit_catches_broken_batch_transforms():
    from zelda_testing import ConformanceError, check_batch_transform

    def in_place(inputs, targets, rng):
        inputs[0] = 0
        return inputs, targets

    def global_rng(inputs, targets, rng):
        lam = float(np.random.rand())
        return inputs, targets * lam + targets.flip(0) * (1 - lam)

    def float_inputs(inputs, targets, rng):
        return inputs.float(), targets

    for broken, clause in ((in_place, "unchanged"), (global_rng, "only from rng"),
                           (float_inputs, "same shapes and dtypes")):
        with pytest.raises(ConformanceError) as err:
            check_batch_transform(broken)
        assert any(clause in f for f in err.value.failures), err.value.failures
