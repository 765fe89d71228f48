"""The tutorial's Conv3d recognizer as three swappable parts plus the recognizer.

Architecture and initialization follow MMAction2's "build your own recognizer" tutorial
(``../shared/bench/mmaction_seed.py``): a two-layer Conv3d backbone, a global-average-pool
classification head and a mean/std data preprocessor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from zelda_core.api import average_views, num_views, targets_loss, view_labels


class Conv3dTiny(nn.Module):
    """The tutorial's backbone: conv(3->64, 3x7x7, s 1x2x2) - BN - ReLU - maxpool(1x3x3, s 1x2x2)
    - conv(64->128, 3x3x3, s 2) - BN - ReLU. Output (N, 128, T/2, H/8, W/8)."""

    def __init__(self, in_channels: int = 3, channels: Sequence[int] = (64, 128)):
        super().__init__()
        c1, c2 = channels
        self.out_channels = c2
        self.conv1 = nn.Sequential(
            nn.Conv3d(in_channels, c1, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3)),
            nn.BatchNorm3d(c1),
            nn.ReLU(inplace=True),
        )
        self.maxpool = nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.conv = nn.Sequential(
            nn.Conv3d(c1, c2, kernel_size=3, stride=2, padding=1),
            nn.BatchNorm3d(c2),
            nn.ReLU(inplace=True),
        )
        self.init_weights()

    def init_weights(self) -> None:
        """Kaiming normal (fan_out, relu) for Conv3d, bias 0; BatchNorm weight 1, bias 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.maxpool(self.conv1(x)))


class ClsHead(nn.Module):
    """Global average pool, dropout, linear; cross-entropy loss; view averaging at test time.

    ``num_classes`` may be left out of a recipe: the engine fills it from the data set.
    ``average_clips``: ``"prob"`` averages the softmax of each view (MMAction2's default for
    the tutorial), ``"score"`` averages the raw scores. ``multi_label`` (the engine sets it
    for a multi-label data set): binary cross-entropy, and the views' sigmoids averaged.
    ``label_smoothing`` smooths class-index targets (``train.label_smoothing`` does it for
    every model).
    """

    def __init__(
        self,
        num_classes: int | None = None,
        in_channels: int | None = None,
        dropout: float = 0.5,
        average_clips: Literal["prob", "score"] = "prob",
        label_smoothing: float = 0.0,
        multi_label: bool = False,
    ):
        super().__init__()
        if num_classes is None:
            raise ValueError(
                "num_classes is not set: give it in the head's table, or let the engine "
                "take it from the data set's classes"
            )
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if average_clips not in ("prob", "score"):
            raise ValueError(f"average_clips must be 'prob' or 'score', got {average_clips!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.num_classes, self.in_channels, self.average_clips = (
            num_classes,
            in_channels,
            average_clips,
        )
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing, self.multi_label = label_smoothing, multi_label
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        if in_channels is not None and in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        # in_channels None: the recognizer sets it from its backbone (set_in_channels)
        self.fc = nn.Linear(in_channels, num_classes) if in_channels else None
        if self.fc is not None:
            self.init_weights()

    def set_in_channels(self, in_channels: int) -> None:
        """Build the linear layer for ``in_channels`` features (the backbone's width)."""
        self.in_channels = in_channels
        self.fc = nn.Linear(in_channels, self.num_classes)
        self.init_weights()

    def init_weights(self) -> None:
        """Normal(0, 0.01) for the linear layer, bias 0."""
        nn.init.normal_(self.fc.weight, 0.0, 0.01)
        nn.init.zeros_(self.fc.bias)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = self.pool(feats).flatten(1)
        return self.fc(self.dropout(x))

    def loss(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Loss of (N, K) scores against (N,) class indices or (N, K) soft/multi-hot rows,
        in float32 (``zelda_core.api.targets_loss``)."""
        return targets_loss(scores, targets, multi_label=self.multi_label,
                            label_smoothing=self.label_smoothing)

    def average_views(self, scores: torch.Tensor, num_views: int) -> torch.Tensor:
        """(B*V, K) scores -> (B, K): mean of probabilities ('prob') or of scores ('score');
        of sigmoids for a multi-label head."""
        return average_views(scores, num_views, self.average_clips, self.multi_label)


class Recognizer(nn.Module):
    """preprocessor -> backbone -> head, taking the loader's uint8 (B, V, C, T, H, W) batch."""

    def __init__(self, preprocessor: nn.Module, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.preprocessor, self.backbone, self.head = preprocessor, backbone, head

    @property
    def num_classes(self) -> int:
        """The number of classes the head scores."""
        return self.head.num_classes

    @property
    def multi_label(self) -> bool:
        """Whether the head scores independent labels (sigmoids) instead of one class."""
        return bool(getattr(self.head, "multi_label", False))

    @property
    def average_clips(self) -> str:
        """How ``predict`` averages views: "prob" (mean softmax) or "score"."""
        return self.head.average_clips

    def enable_channels_last(self) -> None:
        """Weights and the preprocessor's output in channels_last_3d (faster Conv3d)."""
        self.to(memory_format=torch.channels_last_3d)
        if hasattr(self.preprocessor, "channels_last"):
            self.preprocessor.channels_last = True

    def lr_layers(self) -> dict[str, int]:
        """Each parameter's layer for layer-wise lr decay (``zelda_core.api.Model``): the
        backbone's own ``lr_layers()`` when it declares one, else one layer per top-level
        part of the backbone in order (the tutorial's: conv1 0, conv 1); the head last."""
        own = getattr(self.backbone, "lr_layers", None)
        if callable(own):
            layers = {f"backbone.{k}": int(v) for k, v in own().items()}
        else:
            parts = [name for name, m in self.backbone.named_children() if any(True for _ in m.parameters())]
            layers = {f"backbone.{name}": next((i for i, part in enumerate(parts)
                                                if name == part or name.startswith(part + ".")), 0)
                      for name, _ in self.backbone.named_parameters()}
        head = max(layers.values(), default=-1) + 1
        layers.update({f"preprocessor.{n}": 0 for n, _ in self.preprocessor.named_parameters()})
        layers.update({f"head.{n}": head for n, _ in self.head.named_parameters()})
        return layers

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Raw class scores for every view: (B*V, K)."""
        return self.head(self.backbone(self.preprocessor(inputs)))

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Training loss against (B,) class indices or (B, K) target rows; with V views per
        sample each view is trained on the sample's target."""
        scores = self(inputs)
        return self.head.loss(scores, view_labels(targets, num_views(inputs), scores.device))

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """Per-sample class scores (B, K) averaged over the views as the head says
        (probabilities with average_clips='prob')."""
        return self.head.average_views(self(inputs), num_views(inputs))


def recognizer(preprocessor: nn.Module, backbone: nn.Module, head: nn.Module) -> Recognizer:
    """Build the recognizer from its three (already built) parts.

    The head's ``in_channels`` must equal the backbone's output width: left out, it is
    taken from the backbone (its ``out_channels``, else a forward pass on a tiny clip);
    given and different, that is a ValueError naming both sizes, before any training."""
    for name, part in (("preprocessor", preprocessor), ("backbone", backbone), ("head", head)):
        if not isinstance(part, nn.Module):
            raise ValueError(
                f"recognizer: '{name}' must be a built model component (a table with a "
                f"'type' key in the recipe), got {type(part).__name__}"
            )
    width = _backbone_width(preprocessor, backbone)
    wanted = getattr(head, "in_channels", None)
    if wanted is None and hasattr(head, "set_in_channels"):
        head.set_in_channels(width)
    elif wanted is not None and wanted != width:
        raise ValueError(
            f"model.backbone ({type(backbone).__name__}) outputs {width} channels but "
            f"model.head.in_channels is {wanted}: set head.in_channels = {width}, or leave "
            f"it out and the recognizer takes it from the backbone"
        )
    return Recognizer(preprocessor, backbone, head)


def _backbone_width(preprocessor: nn.Module, backbone: nn.Module) -> int:
    """The backbone's declared ``out_channels``, else measured on a tiny uint8 clip."""
    declared = getattr(backbone, "out_channels", None)
    if isinstance(declared, int):
        return declared
    channels = int(getattr(preprocessor, "mean", torch.zeros(1, 3)).shape[1])
    clip = torch.zeros(1, 1, channels, 4, 32, 32, dtype=torch.uint8)
    modes = [m.training for m in (preprocessor, backbone)]
    preprocessor.eval()
    backbone.eval()
    try:
        with torch.no_grad():
            feats = backbone(preprocessor(clip))
    except Exception as exc:  # noqa: BLE001 - say which part could not be measured
        raise ValueError(
            f"model.backbone ({type(backbone).__name__}) declares no out_channels and a "
            f"forward pass on a tiny clip {tuple(clip.shape)} failed ({type(exc).__name__}: "
            f"{exc}); set model.head.in_channels"
        ) from exc
    finally:
        preprocessor.train(modes[0])
        backbone.train(modes[1])
    return int(feats.shape[1])
