"""The tutorial's Conv3d recognizer as three swappable parts plus the recognizer.

Architecture and initialization follow MMAction2's "build your own recognizer" tutorial
(``../shared/bench/mmaction_seed.py``): a two-layer Conv3d backbone, a global-average-pool
classification head and a mean/std data preprocessor.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

_KINETICS_MEAN = (123.675, 116.28, 103.53)
_KINETICS_STD = (58.395, 57.12, 57.375)


class Normalize(nn.Module):
    """Data preprocessor: uint8 (B, V, C, T, H, W) -> normalized float (B*V, C, T, H, W).

    The cast and normalization run on the model's device (the uint8 batch is what crosses
    the host/device boundary, a quarter of the float bytes). ``mean``/``std`` are on the
    0-255 scale, one value per channel. ``channels_last`` returns a channels_last_3d tensor
    (the engine switches it on together with the model's memory format).
    """

    def __init__(
        self,
        mean: Sequence[float] = _KINETICS_MEAN,
        std: Sequence[float] = _KINETICS_STD,
        channels_last: bool = False,
    ):
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"mean has {len(mean)} values but std has {len(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"std values must be positive, got {list(std)}")
        view = (1, -1, 1, 1, 1)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(view), False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(view), False)
        self.channels_last = channels_last

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.dim() == 5:  # (B, C, T, H, W): a single view
            inputs = inputs.unsqueeze(1)
        if inputs.dim() != 6:
            raise ValueError(
                f"expected inputs of shape (B, V, C, T, H, W), got {tuple(inputs.shape)}"
            )
        if inputs.shape[2] != self.mean.shape[1]:
            raise ValueError(
                f"inputs have {inputs.shape[2]} channels but mean/std have {self.mean.shape[1]}"
            )
        x = inputs.to(self.mean.device, non_blocking=True)
        x = x.flatten(0, 1).float()
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return x


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
    the tutorial), ``"score"`` averages the raw scores.
    """

    def __init__(
        self,
        num_classes: int | None = None,
        in_channels: int = 128,
        dropout: float = 0.5,
        average_clips: str = "prob",
        label_smoothing: float = 0.0,
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
        self.label_smoothing = label_smoothing
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.fc = nn.Linear(in_channels, num_classes)
        self.init_weights()

    def init_weights(self) -> None:
        """Normal(0, 0.01) for the linear layer, bias 0."""
        nn.init.normal_(self.fc.weight, 0.0, 0.01)
        nn.init.zeros_(self.fc.bias)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = self.pool(feats).flatten(1)
        return self.fc(self.dropout(x))

    def loss(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of (N, K) scores against (N,) labels, computed in float32."""
        return F.cross_entropy(scores.float(), labels, label_smoothing=self.label_smoothing)

    def average_views(self, scores: torch.Tensor, num_views: int) -> torch.Tensor:
        """(B*V, K) scores -> (B, K): mean of probabilities ('prob') or of scores ('score')."""
        scores = scores.float().view(-1, num_views, scores.shape[-1])
        if self.average_clips == "prob":
            return scores.softmax(dim=-1).mean(dim=1)
        return scores.mean(dim=1)


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
    def average_clips(self) -> str:
        """How ``predict`` averages views: "prob" (mean softmax) or "score"."""
        return self.head.average_clips

    def enable_channels_last(self) -> None:
        """Weights and the preprocessor's output in channels_last_3d (faster Conv3d)."""
        self.to(memory_format=torch.channels_last_3d)
        if hasattr(self.preprocessor, "channels_last"):
            self.preprocessor.channels_last = True

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Raw class scores for every view: (B*V, K)."""
        return self.head(self.backbone(self.preprocessor(inputs)))

    def loss(self, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Training loss; with V views per sample each view is trained on the sample's label."""
        num_views = inputs.shape[1] if inputs.dim() == 6 else 1
        scores = self(inputs)
        labels = labels.to(scores.device, non_blocking=True)
        if num_views > 1:
            labels = labels.repeat_interleave(num_views)
        return self.head.loss(scores, labels)

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """Per-sample class scores (B, K) averaged over the views as the head says
        (probabilities with average_clips='prob')."""
        num_views = inputs.shape[1] if inputs.dim() == 6 else 1
        return self.head.average_views(self(inputs), num_views)


def recognizer(preprocessor: nn.Module, backbone: nn.Module, head: nn.Module) -> Recognizer:
    """Build the recognizer from its three (already built) parts."""
    for name, part in (("preprocessor", preprocessor), ("backbone", backbone), ("head", head)):
        if not isinstance(part, nn.Module):
            raise TypeError(
                f"recognizer: '{name}' must be a built model component (a table with a "
                f"'type' key in the recipe), got {type(part).__name__}"
            )
    return Recognizer(preprocessor, backbone, head)
