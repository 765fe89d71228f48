"""torchvision's video classifiers wrapped as zelda models (``zelda_core.api.Model``).

Each factory builds ``VideoClassifier``: the loader's uint8 (B, V, C, T, H, W) batch is
normalized on the model's device (mean/std on the 0-255 scale), the torchvision network
scores every view, ``loss`` is cross-entropy against class indices or soft targets (binary
cross-entropy with ``multi_label``) and ``predict`` averages the views.

``weights`` (a torchvision weight name, URL or ``.pth`` file) is loaded into a network
built on the meta device (no time spent on a random initialization it would overwrite).
When the weights score another number of classes than the model (``num_classes``, which
the engine fills from the data), the classifier is replaced by a new one.

Each factory's ``input_spec(params)`` states the preprocessing of its weight set
(torchvision's ``weights.transforms()`` and ``meta``) without downloading anything; the
recipe layer uses it for defaults and checks (``zelda_core.api.InputSpec``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from zelda_core.api import InputSpec, Normalize, average_views, num_views, targets_loss, view_labels

from . import tuning
from .archs import ARCHS
from .weights import (
    WeightsError,
    clip_settings,
    load_state,
    named_weights,
    torchvision,
    weight_enum,
)

torchvision()  # a missing or broken torchvision makes these models unusable, said once

MVIT_SIZE = (16, 224)
"""(frames, crop) that torchvision builds MViT for, and that its weights need."""


class VideoClassifier(nn.Module):
    """A torchvision video network behind zelda's model contract.

    ``net`` is the torchvision module (its state-dict keys are ``net.<torchvision key>``).
    """

    def __init__(self, net: nn.Module, *, arch: str, num_classes: int, mean: Sequence[float],
                 std: Sequence[float], average_clips: str = "prob", label_smoothing: float = 0.0,
                 multi_label: bool = False):
        super().__init__()
        self.net, self.arch = net, arch
        self.num_classes, self.average_clips = num_classes, average_clips
        self.label_smoothing, self.multi_label = label_smoothing, multi_label
        self.preprocessor = Normalize(mean, std)

    def lr_layers(self) -> dict[str, int]:
        """Each parameter's layer for layer-wise lr decay: 0 the stem, one per block, the
        final norm and classifier last (``zelda_core.api.Model.lr_layers``)."""
        return tuning.lr_layers(self.net, self.arch)

    def enable_gradient_checkpointing(self) -> None:
        """Recompute each block's activations in the backward pass instead of keeping them
        (``train.gradient_checkpointing``): far less memory, one more forward pass."""
        tuning.checkpoint_blocks(self.net, self.arch)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Raw class scores of every view: uint8 (B, V, C, T, H, W) -> (B*V, K)."""
        return self.net(self.preprocessor(inputs))

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Loss (float32) against (B,) class indices or (B, K) soft/multi-hot rows
        (``zelda_core.api.targets_loss``); each of V views trains on its sample's target."""
        scores = self(inputs)
        targets = view_labels(targets, num_views(inputs), scores.device)
        return targets_loss(scores, targets, multi_label=self.multi_label,
                            label_smoothing=self.label_smoothing)

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, K) scores, the views averaged as ``average_clips`` says (probabilities
        with "prob"); the views' sigmoids for a multi-label model."""
        return average_views(self(inputs), num_views(inputs), self.average_clips, self.multi_label)


class ConvVideoClassifier(VideoClassifier):
    """A 3D-conv network: it can run in channels_last_3d (transformers gain nothing)."""

    def enable_channels_last(self) -> None:
        self.net.to(memory_format=torch.channels_last_3d)
        self.preprocessor.channels_last = True


class ClampedAvgPool3d(nn.Module):
    """S3D's final ``AvgPool3d((2, 7, 7), stride=1)``, with the kernel clamped to the input
    so clips smaller than 14x224x224 still run (identical at and above that size)."""

    def __init__(self, kernel_size: tuple[int, int, int]):
        super().__init__()
        self.kernel_size = tuple(kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = tuple(min(k, s) for k, s in zip(self.kernel_size, x.shape[-3:]))
        return F.avg_pool3d(x, kernel, stride=1)


def input_spec(arch: str, params: dict[str, Any]) -> InputSpec:
    """The preprocessing ``params["weights"]`` was trained with (torchvision's
    ``transforms()`` and ``meta``); for a file, URL or no weights, that of the
    architecture's default weight set. Downloads nothing."""
    weights = params.get("weights")
    member = named_weights(arch, weights) if isinstance(weights, str) else None
    enum = weight_enum(arch)
    ref = member if member is not None else enum.DEFAULT
    source = f"{enum.__name__}.{ref.name}"
    if member is None:
        source += " (the architecture's reference preprocessing)"
    t = ref.transforms()
    clip = clip_settings(ref.meta.get("_docs", ""))
    frames = int(clip.get("clip_len") or ref.meta.get("min_temporal_size") or 16)
    resize = t.resize_size[0] if len(t.resize_size) == 1 else tuple(t.resize_size)
    crop = t.crop_size[0]
    fixed = ARCHS[arch].fixed_size
    if fixed:
        frames, crop = params.get("frames", MVIT_SIZE[0]), params.get("crop_size", MVIT_SIZE[1])
        if member is not None and (frames, crop) != MVIT_SIZE:
            raise ValueError(f"the {source} weights are for {MVIT_SIZE[0]}x{MVIT_SIZE[1]}x"
                             f"{MVIT_SIZE[1]} clips: leave frames and crop_size out")
    return InputSpec(
        source=source,
        mean=tuple(round(m * 255, 4) for m in t.mean),
        std=tuple(round(s * 255, 4) for s in t.std),
        resize=resize, crop=crop, frames=frames, fps=clip.get("frame_rate"), fixed_size=fixed,
    )


@contextlib.contextmanager
def _builder_args(module: Any, private: str, **overrides: Any) -> Any:
    """torchvision's public builders fix some arguments of their private builder
    (``_mvit``'s clip size, ``_swin_transformer3d``'s ``stochastic_depth_prob``): for the
    duration, the private builder receives ``overrides`` instead."""
    real = getattr(module, private)

    def patched(*args: Any, **kwargs: Any) -> nn.Module:
        return real(*args, **{**kwargs, **overrides})

    setattr(module, private, patched)
    try:
        yield
    finally:
        setattr(module, private, real)


def _net(arch: str, num_classes: int, *, frames: int, crop: int, meta: bool,
         drop_path: float | None = None) -> nn.Module:
    """The bare torchvision network (on the meta device when weights will fill it), built
    for ``frames`` x ``crop`` x ``crop`` clips (MViT) and with ``drop_path`` as its
    ``stochastic_depth_prob`` (None: torchvision's default for the architecture)."""
    tv = torchvision(arch)
    overrides: dict[str, Any] = {}
    if drop_path is not None:
        overrides["stochastic_depth_prob"] = float(drop_path)
    if ARCHS[arch].fixed_size and (frames, crop) != MVIT_SIZE:
        overrides["spatial_size"], overrides["temporal_size"] = (crop, crop), frames
    module, private = ((tv.models.video.mvit, "_mvit") if arch.startswith("mvit")
                       else (tv.models.video.swin_transformer, "_swin_transformer3d"))
    with torch.device("meta") if meta else contextlib.nullcontext():
        with _builder_args(module, private, **overrides) if overrides else contextlib.nullcontext():
            net = getattr(tv.models.video, arch)(weights=None, num_classes=num_classes)
    if arch == "s3d":
        net.avgpool = ClampedAvgPool3d(net.avgpool.kernel_size)
    return net


def _replace_classifier(net: nn.Module, path: str, num_classes: int) -> None:
    """A new ``num_classes`` layer where ``path`` is: normal(0, 0.01) weights, zero bias."""
    parent_path, _, name = path.rpartition(".")
    parent = net.get_submodule(parent_path) if parent_path else net
    old = getattr(parent, name)
    if isinstance(old, nn.Linear):
        new: nn.Module = nn.Linear(old.in_features, num_classes)
    else:  # S3D's 1x1x1 Conv3d
        new = nn.Conv3d(old.in_channels, num_classes, kernel_size=1, bias=True)
    nn.init.normal_(new.weight, 0.0, 0.01)
    nn.init.zeros_(new.bias)
    setattr(parent, name, new)


def build(arch: str, *, num_classes: int | None, weights: str | None, mean: Sequence[float] | None,
          std: Sequence[float] | None, average_clips: str, label_smoothing: float,
          replace_classifier: bool, progress: bool, multi_label: bool = False, frames: int = MVIT_SIZE[0],
          crop_size: int = MVIT_SIZE[1], drop_path: float | None = None) -> VideoClassifier:
    """The zelda model of ``arch`` (see the module docstring)."""
    if average_clips not in ("prob", "score"):
        raise ValueError(f"average_clips must be 'prob' or 'score', got {average_clips!r}")
    if num_classes is not None and num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    if drop_path is not None and not 0.0 <= drop_path < 1.0:
        raise ValueError(f"drop_path must be in [0, 1), got {drop_path}")
    spec = input_spec(arch, {"weights": weights, "frames": frames, "crop_size": crop_size})
    for name, value in (("mean", mean), ("std", std)):
        if value is not None and len(value) != 3:
            raise ValueError(f"{name} needs 3 values (R, G, B on the 0-255 scale), got {value}")
    if std is not None and any(s <= 0 for s in std):
        raise ValueError(f"std values must be positive, got {list(std)}")
    state = None
    classifier = ARCHS[arch].classifier
    if weights is not None:
        state, source = load_state(arch, weights, progress=progress)
        if f"{classifier}.weight" not in state:
            raise WeightsError(f"weights = {weights!r} ({source}) have no {classifier}.weight: "
                               f"not a torchvision {arch} state dict")
        weight_classes = int(state[f"{classifier}.weight"].shape[0])
    if num_classes is None:
        if state is None:
            raise ValueError("num_classes is not set: give it, or let the engine take it from "
                             "the data set's classes, or give weights")
        num_classes = weight_classes
    net = _net(arch, weight_classes if state is not None else num_classes,
               frames=frames, crop=crop_size, meta=state is not None, drop_path=drop_path)
    if state is not None:
        try:
            net.load_state_dict(state, assign=True)
        except RuntimeError as exc:
            raise WeightsError(
                f"weights = {weights!r} ({source}) do not fit {arch}: "
                f"{' '.join(str(exc).split())[:600]}") from None
        if weight_classes != num_classes:
            if not replace_classifier:
                raise ValueError(
                    f"the weights ({source}) score {weight_classes} classes but the model is "
                    f"built for {num_classes}: set replace_classifier = true to train a new "
                    f"{num_classes}-class classifier, or num_classes = {weight_classes}")
            _replace_classifier(net, classifier, num_classes)
            print(f"zelda: {arch}: the weights ({source}) score {weight_classes} classes; "
                  f"net.{classifier} is replaced by a new {num_classes}-class classifier",
                  file=sys.stderr)
    cls = ConvVideoClassifier if ARCHS[arch].conv else VideoClassifier
    return cls(net, arch=arch, num_classes=num_classes,
               mean=mean if mean is not None else spec.mean,
               std=std if std is not None else spec.std,
               average_clips=average_clips, label_smoothing=label_smoothing,
               multi_label=multi_label)


def _factory(arch: str) -> Callable[..., VideoClassifier]:
    if ARCHS[arch].fixed_size:
        def factory(num_classes: int | None = None, weights: str | None = None,
                    mean: list[float] | None = None, std: list[float] | None = None,
                    average_clips: Literal["prob", "score"] = "prob", label_smoothing: float = 0.0,
                    replace_classifier: bool = True, progress: bool = True,
                    frames: int = MVIT_SIZE[0], crop_size: int = MVIT_SIZE[1],
                    multi_label: bool = False, drop_path: float | None = None) -> VideoClassifier:
            return build(arch, **locals_of(locals()))
    elif not ARCHS[arch].conv:  # Swin: stochastic depth
        def factory(num_classes: int | None = None, weights: str | None = None,
                    mean: list[float] | None = None, std: list[float] | None = None,
                    average_clips: Literal["prob", "score"] = "prob", label_smoothing: float = 0.0,
                    replace_classifier: bool = True, progress: bool = True,
                    multi_label: bool = False, drop_path: float | None = None) -> VideoClassifier:
            return build(arch, **locals_of(locals()))
    else:
        def factory(num_classes: int | None = None, weights: str | None = None,
                    mean: list[float] | None = None, std: list[float] | None = None,
                    average_clips: Literal["prob", "score"] = "prob", label_smoothing: float = 0.0,
                    replace_classifier: bool = True, progress: bool = True,
                    multi_label: bool = False) -> VideoClassifier:
            return build(arch, **locals_of(locals()))
    factory.__name__ = factory.__qualname__ = arch
    factory.__doc__ = (
        f"torchvision's {arch} ({ARCHS[arch].help}) as a zelda model.\n\n"
        "num_classes: filled from the data when left out; weights: a torchvision weight name "
        "(e.g. 'KINETICS400_V1'), a URL or a .pth file, None for a random initialization; "
        "mean/std: 0-255 scale, default from the weights; average_clips: 'prob' or 'score'; "
        "replace_classifier: a new classifier when the weights have another class count; "
        "progress: show the download's progress bar; multi_label: binary cross-entropy and "
        "the views' sigmoids averaged (the engine sets it for a multi-label data set)."
        + (" frames/crop_size: the clip size the network is built for (its positional "
           "embeddings need exactly that size; the weights need 16x224)." if ARCHS[arch].fixed_size else "")
        + (" drop_path: the stochastic depth rate of the last block (torchvision's "
           "stochastic_depth_prob, rising linearly from 0 at the first block; None: "
           "torchvision's default for the architecture)." if not ARCHS[arch].conv else ""))
    factory.input_spec = lambda params: input_spec(arch, params)  # type: ignore[attr-defined]
    # recipe check builds the network without fetching or reading the weights
    factory.check_params = lambda params: {**params, "weights": None}  # type: ignore[attr-defined]
    return factory


def locals_of(scope: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in scope.items() if k not in ("arch", "build")}


r3d_18 = _factory("r3d_18")
mc3_18 = _factory("mc3_18")
r2plus1d_18 = _factory("r2plus1d_18")
s3d = _factory("s3d")
mvit_v1_b = _factory("mvit_v1_b")
mvit_v2_s = _factory("mvit_v2_s")
swin3d_t = _factory("swin3d_t")
swin3d_s = _factory("swin3d_s")
swin3d_b = _factory("swin3d_b")
