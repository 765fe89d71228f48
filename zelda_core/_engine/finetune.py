"""Fine-tuning controls, for any model: ``[train.finetune]`` and ``train.init_from``.

``[train.finetune]`` (every key optional; patterns are ``fnmatch`` globs over parameter
names as ``model.named_parameters()`` gives them, e.g. ``"net.layer1.*"``):

- ``freeze = [patterns]``: those parameters are not trained ...
- ``unfreeze_after = N``: ... during the first N epochs (absent: the whole run);
- ``lr_mult = { pattern = factor }``: learning rate times ``factor`` (first match wins);
- ``batchnorm = "train" | "eval" | "frozen"``: "eval" keeps BatchNorm running statistics
  fixed (layers in eval mode while training); "frozen" also stops training their affine
  weights;
- ``no_decay = ["norm", "bias", patterns]``: no weight decay on parameters of normalization
  layers ("norm"), on every parameter named ``bias`` ("bias"), or on matching names;
- ``layer_decay = d`` (0 < d <= 1): layer-wise learning-rate decay (BEiT, VideoMAE): a
  parameter of layer ``i`` gets the learning rate times ``d ** (L - i)``, ``L`` the head's
  layer, as the model's ``lr_layers()`` numbers them (a model without it cannot use the
  key). It multiplies with ``lr_mult``.

``train.init_from = "path"`` or ``{ path = "...", map = { regex = replacement },
skip = [patterns] }`` starts from a checkpoint's weights: each checkpoint key is rewritten
by the ``map`` regexes in order (``re.sub``), ``skip`` patterns (after mapping) are left
out, tensors whose shape differs (e.g. a classifier for another class count) keep their
fresh initialization, and missing/unexpected keys are reported.

Frozen parameters stay in the optimizer (so unfreezing needs no new optimizer and resume
restores it as it was); they get no gradient, so no update and no weight decay.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .._errors import RecipeError

_NORMS = (torch.nn.modules.batchnorm._NormBase, torch.nn.GroupNorm, torch.nn.LayerNorm,
          torch.nn.LocalResponseNorm)


def _match(name: str, patterns: Any) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _unmatched(names: list[str], patterns: Any, key: str) -> None:
    """A pattern that matches no parameter is a typo: say so with real names."""
    for p in patterns:
        if not any(fnmatch.fnmatchcase(n, p) for n in names):
            sample = ", ".join(names[:3] + (["..."] if len(names) > 4 else []) + names[-1:])
            raise RecipeError(f"{p!r} matches no parameter of the model; its parameter names "
                              f"look like: {sample}", key=key)


@dataclass
class Finetune:
    """``[train.finetune]`` parsed (an empty table changes nothing)."""

    freeze: list[str] = field(default_factory=list)
    unfreeze_after: int | None = None
    lr_mult: dict[str, float] = field(default_factory=dict)
    batchnorm: str = "train"
    no_decay: list[str] = field(default_factory=list)
    layer_decay: float | None = None

    @classmethod
    def from_table(cls, table: dict[str, Any] | None) -> Finetune:
        """A ``[train.finetune]`` table as ``config.parse_train_config`` checked it."""
        return cls(**(table or {}))

    def check(self, model: torch.nn.Module) -> None:
        """Every pattern names at least one parameter (RecipeError otherwise)."""
        names = [n for n, _ in model.named_parameters()]
        _unmatched(names, self.freeze, "train.finetune.freeze")
        _unmatched(names, list(self.lr_mult), "train.finetune.lr_mult")
        _unmatched(names, [p for p in self.no_decay if p not in ("norm", "bias")],
                   "train.finetune.no_decay")
        if self.layer_decay is not None:
            self.layers(model)

    def layers(self, model: torch.nn.Module) -> dict[str, int]:
        """The model's ``lr_layers()``, checked: RecipeError when the model has none,
        TrainingError when it leaves a parameter out or gives a non-integer."""
        from .errors import TrainingError

        declare = getattr(model, "lr_layers", None)
        if not callable(declare):
            raise RecipeError(
                f"train.finetune.layer_decay needs a model that declares its layer order "
                f"(lr_layers()); {type(model).__name__} does not. Leave layer_decay out, or use "
                "lr_mult patterns", key="train.finetune.layer_decay")
        layers = declare()
        names = [n for n, _ in model.named_parameters()]
        missing = [n for n in names if n not in layers]
        bad = [n for n, i in layers.items() if isinstance(i, bool) or not isinstance(i, int) or i < 0]
        if missing or bad:
            shown = ", ".join((missing or bad)[:3])
            raise TrainingError(
                f"{type(model).__name__}.lr_layers() breaks its contract: "
                + (f"it leaves out {len(missing)} parameter(s) ({shown})" if missing
                   else f"it gives no layer index >= 0 for {shown}")
                + " (zelda_core.api.Model.lr_layers); layer_decay cannot be used with it")
        return layers

    def param_groups(self, model: torch.nn.Module, optimizer: dict[str, Any]) -> list[dict[str, Any]] | None:
        """Optimizer parameter groups (learning rate from ``lr_mult`` and ``layer_decay``,
        weight decay on or off), or None when no key here changes them (the optimizer then
        takes the plain parameter list). With ``layer_decay`` each group also carries its
        ``layer``, in layer order."""
        if not self.lr_mult and not self.no_decay and self.layer_decay is None:
            return None
        self.check(model)
        lr = optimizer.get("lr")
        layers = self.layers(model) if self.layer_decay is not None else {}
        top = max(layers.values(), default=0)
        norm_params = {id(p) for m in model.modules() if isinstance(m, _NORMS)
                       for p in m.parameters(recurse=False)}
        groups: dict[tuple[int, float, bool], dict[str, Any]] = {}
        for name, p in model.named_parameters():
            if not p.requires_grad and not _match(name, self.freeze):
                continue
            mult = next((float(v) for k, v in self.lr_mult.items() if fnmatch.fnmatchcase(name, k)), 1.0)
            no_decay = (("norm" in self.no_decay and id(p) in norm_params)
                        or ("bias" in self.no_decay and name.rsplit(".", 1)[-1] == "bias")
                        or _match(name, [x for x in self.no_decay if x not in ("norm", "bias")]))
            group = groups.setdefault((layers.get(name, top), mult, no_decay), {"params": [], "names": []})
            group["params"].append(p)
            group["names"].append(name)
        out = []
        for (layer, mult, no_decay), group in sorted(groups.items(), key=lambda kv: kv[0][0]):
            g: dict[str, Any] = {"params": group["params"]}
            scale = mult * (float(self.layer_decay) ** (top - layer) if self.layer_decay is not None else 1.0)
            if scale != 1.0:
                if lr is None:
                    key = "lr_mult" if self.lr_mult else "layer_decay"
                    raise RecipeError(f"train.finetune.{key} needs train.optimizer.lr set",
                                      key="train.optimizer.lr")
                g["lr"] = float(lr) * scale
            if no_decay:
                g["weight_decay"] = 0.0
            if self.layer_decay is not None:
                g["layer"] = layer
            out.append(g)
        return out

    def frozen_at(self, epoch: int) -> bool:
        """Whether the ``freeze`` patterns hold during ``epoch`` (0-based)."""
        return bool(self.freeze) and (self.unfreeze_after is None or epoch < self.unfreeze_after)

    def prepare_epoch(self, model: torch.nn.Module, epoch: int) -> list[str]:
        """Set ``requires_grad`` for ``epoch`` and BatchNorm modes (call after
        ``model.train()``); returns the names of the parameters frozen this epoch."""
        frozen = []
        if self.freeze:
            hold = self.frozen_at(epoch)
            for name, p in model.named_parameters():
                if _match(name, self.freeze):
                    p.requires_grad_(not hold)
                    if hold:
                        frozen.append(name)
        if self.batchnorm != "train":
            for m in model.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()
                    if self.batchnorm == "frozen":
                        for p in m.parameters(recurse=False):
                            p.requires_grad_(False)
        return frozen

    def describe(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
        """Lines for the run log: what is frozen, each group's LR and decay."""
        lines = []
        if self.freeze:
            n = sum(p.numel() for name, p in model.named_parameters() if _match(name, self.freeze))
            until = (f"for the first {self.unfreeze_after} epoch(s)" if self.unfreeze_after
                     else "for the whole run")
            lines.append(f"finetune: {n:,} parameters matching {self.freeze} frozen {until}")
        if self.layer_decay is not None:
            top = max((g.get("layer", 0) for g in optimizer.param_groups), default=0)
            lines.append(f"finetune: layer_decay {self.layer_decay}: layer i of 0..{top} trains at "
                         f"lr x {self.layer_decay}^({top} - i)")
        if len(optimizer.param_groups) > 1 or self.lr_mult or self.no_decay or self.layer_decay is not None:
            for i, g in enumerate(optimizer.param_groups):
                n = sum(p.numel() for p in g["params"])
                layer = f"layer {g['layer']}, " if "layer" in g else ""
                lines.append(f"finetune: group {i}: {layer}{n:,} parameters, lr {g['lr']:.3g}, "
                             f"weight decay {g.get('weight_decay', 0)}")
        if self.batchnorm != "train":
            lines.append(f"finetune: BatchNorm layers {self.batchnorm} (running statistics fixed)")
        return lines


def enable_gradient_checkpointing(model: torch.nn.Module) -> None:
    """``train.gradient_checkpointing = true``: the model's
    ``enable_gradient_checkpointing()``; a model without it is a recipe error."""
    enable = getattr(model, "enable_gradient_checkpointing", None)
    if not callable(enable):
        raise RecipeError(
            f"train.gradient_checkpointing: the model ({type(model).__name__}) has no "
            "enable_gradient_checkpointing() (zelda_core.api.Model); leave the key out, or "
            "lower data.batch_size to save memory", key="train.gradient_checkpointing")
    enable()


def init_from_checkpoint(model: torch.nn.Module, spec: str | Path | dict[str, Any],
                         log: Any, *, force: bool = False,
                         load: Any = None) -> dict[str, list[str]]:
    """Load a checkpoint's weights into ``model`` as ``train.init_from`` says; returns the
    ``missing``, ``unexpected`` and ``shape_mismatch`` keys (also logged).

    A checkpoint none of whose tensors fits is a CheckpointError unless ``force``.
    ``load(path)`` reads the checkpoint (default: ``load_checkpoint``)."""
    from . import checkpoint as ckpt_io
    from .errors import CheckpointError

    spec = {"path": str(spec)} if not isinstance(spec, dict) else spec
    path = spec["path"]
    weights = ckpt_io.model_state((load or ckpt_io.load_checkpoint)(path))
    mapping = [(re.compile(k), v) for k, v in (spec.get("map") or {}).items()]
    mapped = {}
    for key, value in weights.items():
        for pattern, repl in mapping:
            key = pattern.sub(repl, key)
        mapped[key] = value
    skipped = [k for k in mapped if _match(k, spec.get("skip") or [])]
    own = model.state_dict()
    mismatched = [k for k, v in mapped.items() if k in own and k not in skipped
                  and tuple(own[k].shape) != tuple(v.shape)]
    usable = {k: v for k, v in mapped.items() if k not in mismatched and k not in skipped}
    ckpt_io.check_finite_weights(usable, path)  # NaN weights: refused by name, not a NaN loss later
    result = model.load_state_dict(usable, strict=False)
    report = {"missing": list(result.missing_keys), "unexpected": list(result.unexpected_keys),
              "shape_mismatch": mismatched, "skipped": skipped}
    loaded = len(usable) - len(report["unexpected"])
    if loaded == 0 and not force:
        sample = ", ".join(list(weights)[:3]) or "none"
        raise CheckpointError(
            f"--init-from {path}: none of its {len(weights)} tensors fits this model's "
            f"{len(own)} (its names: {sample} ...; this model's: "
            f"{', '.join(list(own)[:3])} ...): it is a checkpoint of another model. Pass "
            "--force-init to start from random weights anyway")
    log.info(f"init-from {path}: loaded {loaded} of {len(own)} tensors")
    for key in mismatched:
        log.info(f"init-from: {key} has shape {tuple(mapped[key].shape)} in the checkpoint and "
                 f"{tuple(own[key].shape)} here (e.g. a classifier for another number of "
                 "classes): it keeps its fresh initialization")
    for what in ("missing", "unexpected", "skipped"):
        keys = report[what]
        if keys:
            shown = ", ".join(keys[:8]) + (f", ... ({len(keys)} in all)" if len(keys) > 8 else "")
            log.warning(f"init-from: {what} keys: {shown}")
    return report
