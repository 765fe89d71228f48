"""The transform, metric, model and batch transform contracts (``zelda_core.api``), checked in-process."""

from __future__ import annotations

import copy
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import Clauses


def _build(kind: str, component: Any, params: dict[str, Any]) -> Any:
    """A registered name is built through zelda's registry (as a recipe would)."""
    if isinstance(component, str):
        from zelda_core import build

        return build(kind, {"type": component, **params})
    if isinstance(component, dict):
        from zelda_core import build

        return build(kind, component)
    if isinstance(component, type) or params:  # a factory
        return component(**params)
    return component  # already built


def default_sample(seed: int) -> dict[str, Any]:
    """A decoded sample as the bundled transforms see it after ``decode``: 2 clips of 4
    RGB frames 32x40, with the rng zelda seeds from (seed, epoch, index)."""
    pixels = np.random.default_rng(1234)  # the content is fixed; only ``rng`` varies
    imgs = pixels.integers(0, 256, (8, 32, 40, 3), dtype=np.uint8)
    return {"imgs": imgs, "frame_inds": np.arange(8), "clip_len": 4, "num_clips": 2,
            "frame_interval": 1, "img_shape": (32, 40), "original_shape": (32, 40),
            "label": 1, "filename": "kit.mp4", "index": 0, "total_frames": 8,
            "rng": np.random.default_rng(seed)}


def _same(a: Any, b: Any, where: str = "sample") -> None:
    if isinstance(a, np.random.Generator):
        return
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} vs {sorted(b)}"
        for k in a:
            _same(a[k], b[k], f"{where}[{k!r}]")
        return
    if hasattr(a, "detach") and hasattr(a, "cpu"):  # a torch tensor
        a, b = a.detach().cpu().numpy(), b.detach().cpu().numpy()
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert np.array_equal(np.asarray(a), np.asarray(b)), f"{where} differs"
        return
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
        return
    assert a == b, f"{where}: {a!r} vs {b!r}"


REPRO_SEEDS = 16
"""Seeds the reproducibility clause runs a transform on, twice each."""


def check_transform(transform: Any, *, params: dict[str, Any] | None = None,
                    make_sample: Callable[[int], dict[str, Any]] = default_sample) -> list[str]:
    """Run the transform contract: it returns the sample dict; its randomness comes only
    from ``sample["rng"]`` (same seed, same output, whatever the global RNGs; the global
    RNGs untouched). ``transform``: a registered name, a ``{type = ...}`` table, a factory
    (called with ``params``) or a built transform. ``make_sample(seed)`` makes an input
    sample (default: :func:`default_sample`)."""
    params = params or {}
    name = transform if isinstance(transform, str) else getattr(transform, "__name__",
                                                                type(transform).__name__)
    c = Clauses(f"transform {name!r}")
    t = c.check("builds", lambda: _build("transforms", transform, params))
    if t is None:
        return c.done()

    def run(seed: int, global_seed: int) -> dict[str, Any]:
        np.random.seed(global_seed)
        random.seed(global_seed)
        before = (np.random.get_state()[1].copy(), random.getstate())
        out = t(make_sample(seed))
        after = (np.random.get_state()[1], random.getstate())
        assert np.array_equal(before[0], after[0]) and before[1] == after[1], \
            "it used the global RNG (numpy.random or random); use sample['rng']"
        return out

    def returns_sample() -> None:
        out = t(make_sample(0))
        assert isinstance(out, dict), f"returned {type(out).__name__}, not the sample dict"
        assert "imgs" not in make_sample(0) or "imgs" in out or "inputs" in out, \
            "the sample lost its frames"

    def reproducible() -> None:
        # several seeds: a transform drawing from an unseeded generator agrees with itself by
        # chance on one seed (a coin flip half the time), on all of them almost never
        for seed in range(REPRO_SEEDS):
            _same(run(seed, 0), run(seed, 12345 + seed))

    def indices_in_range() -> None:
        for seed in range(4):
            sample = make_sample(seed)
            total = sample.get("total_frames")
            out = t(sample)
            inds = out.get("frame_inds") if isinstance(out, dict) else None
            if inds is None or not isinstance(total, int):
                continue
            arr = np.asarray(inds)
            assert arr.size == 0 or (arr.min() >= 0 and arr.max() < total), (
                f"frame_inds {arr.tolist()} leave [0, total_frames = {total}) (zelda stops the "
                "run with a PluginError: no video is skipped for it)")

    c.check("returns the sample dict", returns_sample)
    c.check("keeps frame_inds in [0, total_frames)", indices_in_range)
    c.check("uses only sample['rng']: same seed, same output, global RNGs untouched",
            reproducible)
    c.check("leaves a copy of its input usable (deep-copyable output)",
            lambda: copy.deepcopy(t(make_sample(3))))
    return c.done()


def check_metric(metric: Any, *, params: dict[str, Any] | None = None,
                 num_classes: int = 4, batch: int = 6) -> list[str]:
    """Run the metric contract: reset/update/compute; ``compute`` returns floats, and the
    same keys before any update (NaN values); splitting
    the same videos into other batches gives the same result; ``reset`` forgets; optional
    ``save(directory, classes)`` writes into an existing directory."""
    import torch

    params = params or {}
    name = metric if isinstance(metric, str) else getattr(metric, "__name__", type(metric).__name__)
    c = Clauses(f"metric {name!r}")
    m = c.check("builds", lambda: _build("metrics", metric, params))
    if m is None:
        return c.done()
    gen = torch.Generator().manual_seed(0)
    scores = torch.rand(batch * 2, num_classes, generator=gen).softmax(dim=1)
    labels = torch.randint(0, num_classes, (batch * 2,), generator=gen)

    def members() -> None:
        for member in ("reset", "update", "compute"):
            assert callable(getattr(m, member, None)), f"no {member}()"

    def values(result: Any) -> dict[str, float]:
        assert isinstance(result, dict), f"compute() returned {result!r}, not a dict"
        for k, v in result.items():
            assert isinstance(k, str), f"key {k!r} is not a string"
            float(v)
        return {k: float(v) for k, v in result.items()}

    def computes() -> dict[str, float]:
        m.reset()
        m.update(scores, labels)
        return values(m.compute())

    c.check("has reset, update and compute", members)
    empty = c.check("compute() before any update returns {name: float} (NaN values)",
                    lambda: values(m.compute()))
    whole = c.check("compute() returns {name: float}", computes)

    def names_its_values() -> None:
        assert empty.keys() == whole.keys(), (
            f"before any update compute() gives {sorted(empty)}, after one {sorted(whole)}; the "
            "engine checks train.best_metric against the first, before training")

    if empty is not None and whole is not None:
        c.check("compute() names the same values before any update", names_its_values)

    def batching() -> None:
        m.reset()
        m.update(scores[:batch], labels[:batch])
        m.update(scores[batch:], labels[batch:])
        split = values(m.compute())
        assert split.keys() == whole.keys(), f"keys {sorted(split)} vs {sorted(whole)}"
        for k in whole:
            assert np.isclose(split[k], whole[k], equal_nan=True), \
                f"{k}: {split[k]} in two batches, {whole[k]} in one"

    def forgets() -> None:
        m.reset()
        m.update(scores[:batch], labels[:batch])
        m.reset()
        m.update(scores, labels)
        again = values(m.compute())
        for k in whole:
            assert np.isclose(again[k], whole[k], equal_nan=True), \
                f"{k}: {again[k]} after reset, {whole[k]} fresh"

    if whole is not None:
        c.check("the same videos in other batches give the same result", batching)
        c.check("reset() forgets what was seen", forgets)

    def saves() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp) / "existing"
            directory.mkdir()
            out = m.save(directory, [f"class{i}" for i in range(num_classes)])
            assert any(directory.iterdir()), "save() wrote nothing into the directory"
            assert isinstance(out, (str, Path)), f"save() returned {type(out).__name__}, not its path"
            path = (directory / out).resolve()
            assert path.is_file(), f"save() returned {str(out)!r}, which is not a file it wrote"
            assert directory.resolve() in path.parents, \
                f"save() returned {str(out)!r}, which is outside the directory"

    if hasattr(m, "save"):
        c.check("save(directory, classes) returns an existing file inside the directory", saves)
    return c.done()


def check_model(model: Any, *, num_classes: int, params: dict[str, Any] | None = None,
                shape: tuple[int, int, int, int, int, int] = (2, 2, 3, 4, 32, 32)) -> list[str]:
    """Run the model contract on uint8 inputs of ``shape`` (B, V, C, T, H, W):
    ``num_classes``, ``average_clips``, ``loss`` a finite scalar that backpropagates, for
    class indices and for soft (B, K) targets (one-hot rows giving the class-index loss,
    unless the model smooths labels itself), ``predict`` (B, K) with views averaged
    (probabilities summing to 1 for "prob"), single-view inputs too, and the optional
    ``enable_channels_last``. A model with ``multi_label = True`` is checked on multi-hot
    targets and must predict per-class probabilities in [0, 1].

    ``model``: a built module, a ``{type = ...}`` model table (nested tables are built
    like a recipe's), a registered name or a factory (called with ``params``)."""
    import torch

    name = model if isinstance(model, str) else (model.get("type") if isinstance(model, dict)
                                                 else type(model).__name__)
    c = Clauses(f"model {name!r}")
    net = c.check("builds", lambda: model if isinstance(model, torch.nn.Module)
                  else _build("models", model, params or {}))
    if net is None:
        return c.done()
    b = shape[0]
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, num_classes, (b,), generator=gen)

    def attributes() -> None:
        assert isinstance(net, torch.nn.Module), f"a {type(net).__name__}, not a torch.nn.Module"
        assert getattr(net, "num_classes", None) == num_classes, \
            f"num_classes {getattr(net, 'num_classes', None)!r}, expected {num_classes}"
        assert getattr(net, "average_clips", None) in ("prob", "score"), \
            f"average_clips {getattr(net, 'average_clips', None)!r}, expected 'prob' or 'score'"

    multi_label = bool(getattr(net, "multi_label", False))
    rows = torch.rand((b, num_classes), generator=gen)
    soft = (rows > 0.5).float() if multi_label else rows / rows.sum(dim=1, keepdim=True)

    def loss(targets: torch.Tensor = labels) -> None:
        net.train()
        value = net.loss(inputs, targets)
        assert isinstance(value, torch.Tensor) and value.dim() == 0, \
            f"loss is {type(value).__name__} {tuple(getattr(value, 'shape', ()))}, not a scalar tensor"
        assert torch.isfinite(value), f"loss {value.item()} is not finite"
        value.backward()
        grads = [p.grad for p in net.parameters() if p.requires_grad]
        assert grads and any(g is not None and g.abs().sum() > 0 for g in grads), \
            "no parameter received a gradient"
        net.zero_grad(set_to_none=True)

    def eval_loss(targets: torch.Tensor) -> float:
        net.eval()  # no dropout: every loss sees the same scores
        with torch.no_grad():
            return float(net.loss(inputs, targets))

    def one_hot_rows() -> None:
        hard = eval_loss(labels)
        as_rows = eval_loss(torch.nn.functional.one_hot(labels, num_classes).float())
        assert abs(hard - as_rows) <= 1e-4 * abs(hard) + 1e-5, \
            f"one-hot target rows give loss {as_rows}, class indices {hard}"

    def linear() -> None:
        # mixup's soft targets rely on it: the loss of lam*a + (1-lam)*b is the mix of the losses
        a = torch.nn.functional.one_hot(labels, num_classes).float()
        other = torch.roll(labels, 1) if b > 1 else (labels + 1) % num_classes
        bb = torch.nn.functional.one_hot(other, num_classes).float()
        lam = 0.3
        mixed, parts = eval_loss(lam * a + (1 - lam) * bb), lam * eval_loss(a) + (1 - lam) * eval_loss(bb)
        assert abs(mixed - parts) <= 1e-4 * abs(parts) + 1e-5, \
            f"loss of mixed target rows {mixed}, but the mix of the rows' losses is {parts} " \
            "(soft targets must not be turned into class indices)"

    def predict(x: torch.Tensor) -> None:
        net.eval()
        with torch.no_grad():
            out = net.predict(x)
        assert tuple(out.shape) == (x.shape[0], num_classes), \
            f"predict gave {tuple(out.shape)}, expected {(x.shape[0], num_classes)}"
        assert out.is_floating_point() and torch.isfinite(out).all(), "non-finite or non-float scores"
        if multi_label:
            assert ((out >= 0) & (out <= 1)).all(), "multi_label but scores are not in [0, 1]"
        elif net.average_clips == "prob":
            sums = out.float().sum(dim=1)
            assert torch.allclose(sums, torch.ones_like(sums), atol=1e-4), \
                f"average_clips='prob' but rows sum to {sums.tolist()}"

    def channels_last() -> None:
        net.enable_channels_last()
        predict(inputs)

    c.check("num_classes and average_clips", attributes)
    if not multi_label:  # a multi-label model is given multi-hot rows, never indices
        c.check("loss(uint8 inputs, labels) is a finite scalar that backpropagates", loss)
    c.check("loss(uint8 inputs, float (B, K) "
            + ("multi-hot" if multi_label else "soft") + " targets) is a finite scalar that "
            "backpropagates", lambda: loss(soft))
    if not multi_label and not getattr(net, "label_smoothing", 0):
        c.check("one-hot (B, K) target rows give the class-index loss", one_hot_rows)
    c.check("the loss of mixed target rows is the mix of their losses", linear)
    c.check("predict(inputs) is (B, K), views averaged", lambda: predict(inputs))
    c.check("predict on a single view (B, 1, C, T, H, W)", lambda: predict(inputs[:, :1]))
    if hasattr(net, "enable_channels_last"):
        c.check("enable_channels_last() keeps predict working", channels_last)
    return c.done()


def check_batch_transform(transform: Any, *, params: dict[str, Any] | None = None,
                          shape: tuple[int, int, int, int, int, int] = (4, 2, 3, 4, 16, 20),
                          num_classes: int = 5) -> list[str]:
    """Run the batch transform contract on a uint8 batch of ``shape`` (B, V, C, T, H, W)
    and float (B, ``num_classes``) target rows: it returns (inputs, targets) of the same
    shapes and dtypes, each target row keeping its sum (mixing is a convex combination),
    the input tensors left unchanged, its randomness only from ``rng`` (same seed, same
    output; the global RNGs untouched), and a batch of one (mixed with itself, if at all)
    works. ``transform``: a registered name, a ``{type = ...}`` table, a factory (called
    with ``params``) or a built transform."""
    import torch

    params = params or {}
    name = transform if isinstance(transform, str) else getattr(transform, "__name__",
                                                                type(transform).__name__)
    c = Clauses(f"batch transform {name!r}")
    t = c.check("builds", lambda: _build("batch_transforms", transform, params))
    if t is None:
        return c.done()
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, num_classes, (shape[0],), generator=gen)
    targets = torch.nn.functional.one_hot(labels, num_classes).float() * 0.9 + 0.1 / num_classes

    def run(seed: int, x: torch.Tensor = inputs, y: torch.Tensor = targets) -> tuple[Any, Any]:
        return t(x.clone(), y.clone(), np.random.default_rng(seed))

    def shapes() -> None:
        for seed in range(4):
            out = run(seed)
            assert isinstance(out, tuple) and len(out) == 2, \
                f"returned {type(out).__name__}, not (inputs, targets)"
            x, y = out
            assert isinstance(x, torch.Tensor) and x.shape == inputs.shape and x.dtype == inputs.dtype, \
                f"inputs came back as {getattr(x, 'dtype', type(x).__name__)} {tuple(getattr(x, 'shape', ()))}"
            assert isinstance(y, torch.Tensor) and y.shape == targets.shape and y.is_floating_point(), \
                f"targets came back as {getattr(y, 'dtype', type(y).__name__)} {tuple(getattr(y, 'shape', ()))}"
            assert torch.allclose(y.sum(1), targets.sum(1), atol=1e-5), \
                f"target rows sum to {y.sum(1).tolist()}, not {targets.sum(1).tolist()}"

    def leaves_inputs() -> None:
        x, y = inputs.clone(), targets.clone()
        for seed in range(4):
            t(x, y, np.random.default_rng(seed))
            assert torch.equal(x, inputs) and torch.equal(y, targets), \
                "it changed the tensors it was given in place; return new ones"

    def reproducible() -> None:
        for seed in range(REPRO_SEEDS):
            np.random.seed(seed)
            random.seed(seed)
            torch.manual_seed(seed)
            before = (np.random.get_state()[1].copy(), random.getstate(), torch.get_rng_state())
            a = run(seed)
            after = (np.random.get_state()[1], random.getstate(), torch.get_rng_state())
            assert np.array_equal(before[0], after[0]) and before[1] == after[1] \
                and torch.equal(before[2], after[2]), \
                "it used a global RNG (numpy.random, random or torch); use the rng argument"
            np.random.seed(seed + 999)
            torch.manual_seed(seed + 999)
            _same(a, run(seed), f"seed {seed}")

    def batch_of_one() -> None:
        x, y = run(0, inputs[:1], targets[:1])
        assert x.shape == inputs[:1].shape and y.shape == targets[:1].shape, "the batch size changed"

    c.check("returns (inputs, targets) of the same shapes and dtypes, rows keeping their sums", shapes)
    c.check("leaves the tensors it was given unchanged", leaves_inputs)
    c.check("its randomness comes only from rng (same seed, same output)", reproducible)
    c.check("a batch of one works", batch_of_one)
    return c.done()
