"""Fine-tuning hooks of the torchvision networks: layer order and gradient checkpointing.

``lr_layers(net, arch)`` numbers each parameter's layer for layer-wise lr decay
(``zelda_core.api.Model.lr_layers``): 0 is the stem (patch/conv embedding, positional
encoding), each block (MViT block, Swin block, ResNet residual block, S3D feature stage)
its own layer in input order, then the final norm and the classifier (the largest).
Swin's patch merging belongs to the block it feeds.

``checkpoint_blocks(net, arch)`` makes those blocks recompute their activations in the
backward pass (``torch.utils.checkpoint``) instead of keeping them: memory for compute.
The blocks keep their parameter names (their class is swapped for a subclass whose
``forward`` checkpoints), so checkpoints and weights are unaffected.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


def blocks(net: nn.Module, arch: str) -> list[tuple[str, nn.Module]]:
    """The network's blocks in input order, with their qualified names."""
    if arch.startswith("mvit"):
        return [(f"blocks.{i}", b) for i, b in enumerate(net.blocks)]
    if arch.startswith("swin"):
        out = []
        for i, stage in enumerate(net.features):
            if isinstance(stage, nn.Sequential):
                out += [(f"features.{i}.{j}", b) for j, b in enumerate(stage)]
        return out
    if arch == "s3d":  # features.0 is the stem; pooling layers have no parameters
        return [(f"features.{i}", b) for i, b in enumerate(net.features)
                if i > 0 and any(True for _ in b.parameters())]
    return [(f"layer{s}.{j}", b) for s in range(1, 5) for j, b in enumerate(getattr(net, f"layer{s}"))]


def lr_layers(net: nn.Module, arch: str, prefix: str = "net.") -> dict[str, int]:
    """Every parameter name (``prefix`` + torchvision's name) -> its layer index."""
    names = [n for n, _ in net.named_parameters()]
    starts = [name + "." for name, _ in blocks(net, arch)]
    top = len(starts) + 1
    layers = {}
    for name in names:
        index = next((i + 1 for i, s in enumerate(starts) if name.startswith(s)), None)
        if index is None and arch.startswith("swin") and name.startswith("features."):
            # patch merging (features.<odd>): the layer of the first block after it
            stage = int(name.split(".")[1])
            index = next((i + 1 for i, s in enumerate(starts) if int(s.split(".")[1]) > stage), top)
        if index is None:
            head = not (name.startswith(("conv_proj.", "pos_encoding.", "patch_embed.", "stem.",
                                         "features.0.")))
            index = top if head else 0
        layers[prefix + name] = index
    return layers


class _Checkpointed:
    """Mixed into a block's class: its forward is recomputed in the backward pass."""

    def forward(self, *args: Any) -> Any:
        if self.training and torch.is_grad_enabled():
            return checkpoint(super().forward, *args, use_reentrant=False)
        return super().forward(*args)


_CLASSES: dict[type, type] = {}


def checkpoint_blocks(net: nn.Module, arch: str) -> int:
    """Gradient checkpointing on every block; returns how many blocks."""
    found = blocks(net, arch)
    for _, block in found:
        cls = type(block)
        if issubclass(cls, _Checkpointed):
            continue
        if cls not in _CLASSES:
            _CLASSES[cls] = type(f"Checkpointed{cls.__name__}", (_Checkpointed, cls),
                                 {"__module__": __name__})
        block.__class__ = _CLASSES[cls]
    return len(found)
