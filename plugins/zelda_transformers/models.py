"""Hugging Face video classifiers wrapped as zelda models (``zelda_core.api.Model``).

``HFVideoClassifier``: the loader's uint8 (B, V, C, T, H, W) batch is normalized on the
model's device (mean/std on the 0-255 scale, from the processor config), turned into the
(N, T, C, H, W) clip ``transformers`` takes, and scored; ``loss`` takes hard, soft or
multi-hot targets; ``predict`` averages the views.

The network comes from ``checkpoint`` (a Hub id, ``revision`` pinnable, or a local
folder) or, for a random initialization, from ``config`` (the architecture's ``*Config``
keys, checked against its signature); ``config`` next to ``checkpoint`` overrides keys of
the checkpoint's config (dropouts, ``drop_path_rate``...).
"""

from __future__ import annotations

import difflib
import inspect
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from zelda_core.api import (
    InputSpec,
    Normalize,
    PluginError,
    ZeldaError,
    average_views,
    install_hint,
    num_views,
    targets_loss,
    view_labels,
)

from . import source as src
from .archs import ARCHS, BY_MODEL_TYPE, Arch
from .configs import set_config
from .spec import from_configs

try:
    import transformers
except KeyboardInterrupt:
    raise
except BaseException as exc:  # noqa: BLE001 - any import failure: say what to install
    broken = "" if isinstance(exc, ImportError) else ", which is installed but does not import"
    raise PluginError(
        f"the Hugging Face video models need transformers{broken} ({type(exc).__name__}: "
        f"{exc}); install it with: {install_hint('transformers', package=__package__)}") from exc

ANY = "hf_video"
"""The component that takes any ``AutoModelForVideoClassification`` checkpoint."""


class HFVideoClassifier(nn.Module):
    """A ``transformers`` video classifier behind zelda's model contract.

    ``net`` is the ``*ForVideoClassification`` module (state-dict keys ``net.<HF key>``)."""

    native_formats = ("hf",)
    """What ``zelda export --format`` may write besides the core formats (``export_native``)."""

    def __init__(self, net: nn.Module, *, arch: str, input_name: str, num_classes: int,
                 mean: Sequence[float], std: Sequence[float], average_clips: str = "prob",
                 label_smoothing: float = 0.0, multi_label: bool = False,
                 processor: dict[str, Any] | None = None):
        super().__init__()
        self.net, self.arch, self.input_name = net, arch, input_name
        self.num_classes, self.average_clips = num_classes, average_clips
        self.label_smoothing, self.multi_label = label_smoothing, multi_label
        self.preprocessor = Normalize(mean, std)
        self.processor = dict(processor or {})

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Raw class scores of every view: uint8 (B, V, C, T, H, W) -> (B*V, K)."""
        x = self.preprocessor(inputs).transpose(1, 2)  # (N, C, T, H, W) -> (N, T, C, H, W)
        return self.net(**{self.input_name: x}).logits

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Loss (float32) against (B,) class indices or (B, K) soft/multi-hot rows
        (``zelda_core.api.targets_loss``); each of V views trains on its sample's target."""
        scores = self(inputs)
        targets = view_labels(targets, num_views(inputs), scores.device)
        return targets_loss(scores, targets, multi_label=self.multi_label,
                            label_smoothing=self.label_smoothing)

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, K) scores, views averaged: sigmoids for a multi-label model, else as
        ``average_clips`` says (probabilities with "prob")."""
        return average_views(self(inputs), num_views(inputs), self.average_clips, self.multi_label)

    def lr_layers(self) -> dict[str, int]:
        """Parameter name -> layer: 0 embeddings, i + 1 encoder layer i, then the head (the
        norm, pooler and classifier after the encoder; V-JEPA 2's unused predictor)."""
        names = [n for n, _ in self.named_parameters()]
        prefix = re.escape(getattr(self.net, "base_model_prefix", "") or "")
        layer = re.compile(rf"^net\.{prefix}\.(?:encoder\.)?layers?\.(\d+)\.")
        depth = {n: int(m.group(1)) + 1 for n in names if (m := layer.match(n))}
        head = max(depth.values(), default=0) + 1
        out = {}
        for n in names:
            if n in depth:
                out[n] = depth[n]
            elif "embeddings" in n and ".predictor." not in n:
                out[n] = 0
            else:
                out[n] = head
        return out

    def enable_gradient_checkpointing(self) -> None:
        """Recompute each encoder layer's activations in the backward pass."""
        if not getattr(self.net, "supports_gradient_checkpointing", False):
            raise ValueError(f"{type(self.net).__name__} has no gradient checkpointing")
        kwargs = {"use_reentrant": False}
        if hasattr(self.net, "activation_checkpointing_enable"):  # transformers >= 5.x
            self.net.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            self.net.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)

    def export_native(self, fmt: str, directory: Path, *, labels: list[str],
                      preprocessing: dict[str, Any]) -> dict[str, Any]:
        """Write the model as ``transformers`` saves it (see ``export.py``); returns the
        ``[model]`` table that builds it back from ``directory``."""
        from .export import save_hf

        if fmt != "hf":
            raise ValueError(f"{self.arch} writes only 'hf', not {fmt!r}")
        return save_hf(self, directory, labels=labels, preprocessing=preprocessing)


# --- configs ---------------------------------------------------------------------------------

def _config_class(arch: Arch | None, model_type: str | None) -> type:
    if arch is not None:
        return getattr(transformers, arch.config)
    from transformers import CONFIG_MAPPING

    if model_type not in CONFIG_MAPPING:
        raise ValueError(f"config.model_type = {model_type!r} is not a transformers model type")
    return CONFIG_MAPPING[model_type]


def config_keys(cls: type) -> list[str]:
    """The keys a ``*Config`` takes (its signature; ``**kwargs`` would accept typos)."""
    keys: list[str] = []
    for klass in cls.__mro__:
        if klass is object or "__init__" not in vars(klass):
            continue
        sig = inspect.signature(klass.__init__)
        keys += [p for p, v in sig.parameters.items() if p != "self" and v.kind not in
                 (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL) and p not in keys]
    return keys


def check_config(cls: type, config: dict[str, Any], where: str = "config") -> dict[str, Any]:
    """``config`` when every key is a parameter of ``cls``; else ValueError naming it."""
    allowed = set(config_keys(cls)) | {"model_type"}
    for key in config:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else \
                f" (it takes {', '.join(k for k in config_keys(cls) if not k.startswith('_'))})"
            raise ValueError(f"{where}.{key} is not a {cls.__name__} parameter{hint}")
    return dict(config)


# --- building --------------------------------------------------------------------------------

def _arch_of(arch_name: str | None, cfg: dict[str, Any], where: str) -> Arch | None:
    model_type = cfg.get("model_type")
    if arch_name is None:
        return ARCHS.get(BY_MODEL_TYPE.get(str(model_type), ""))
    arch = ARCHS[arch_name]
    if model_type is not None and model_type != arch.model_type:
        other = BY_MODEL_TYPE.get(str(model_type), ANY)
        raise ValueError(f"{where} is a {model_type!r} model, not {arch.model_type}: "
                         f"use type = {other!r}")
    return arch


def _source_configs(arch_name: str | None, checkpoint: str | None, revision: str | None,
                    config: dict[str, Any] | None) -> tuple[Any, dict[str, Any], dict | None, Arch | None]:
    """(Source or None, config dict, processor dict or None, Arch or None), read without
    building anything; ``config`` checked and applied over the checkpoint's."""
    if checkpoint is None:
        if revision is not None:
            raise ValueError("revision needs a checkpoint (a Hub id)")
        if config is None:
            raise ValueError("give checkpoint (a Hub id or a local folder) or config (a "
                             "random initialization)")
        if arch_name is None and "model_type" not in config:
            raise ValueError(f"{ANY} with config needs config.model_type (e.g. 'videomae')")
        arch = _arch_of(arch_name, config, "config")
        cls = _config_class(arch, config.get("model_type"))
        overrides = check_config(cls, {k: v for k, v in config.items() if k != "model_type"})
        base = {**_defaults(cls), **overrides, "model_type": arch.model_type if arch else config["model_type"]}
        return None, base, None, arch
    source = src.resolve(checkpoint, revision)
    cfg = src.read_json(source, src.CONFIG)
    if cfg is None:
        raise src.SourceError(f"checkpoint = {source.name} has no {src.CONFIG}")
    arch = _arch_of(arch_name, cfg, f"checkpoint = {source.name}")
    cls = _config_class(arch, cfg.get("model_type"))
    overrides = check_config(cls, config or {})
    processor = None
    for name in src.PROCESSORS:
        processor = src.read_json(source, name)
        if processor is not None:
            break
    return source, {**cfg, **overrides}, processor, arch


def _defaults(cls: type) -> dict[str, Any]:
    return {k: v.default for k, v in inspect.signature(cls.__init__).parameters.items()
            if v.default is not inspect.Parameter.empty and isinstance(v.default, (int, float))}


def input_spec(arch_name: str | None, params: dict[str, Any]) -> InputSpec:
    """The input the model of ``params`` expects, from the checkpoint's config and
    processor config (or ``config``); builds nothing, downloads only those JSON files."""
    checkpoint, config = params.get("checkpoint"), params.get("config")
    _, cfg, processor, arch = _source_configs(arch_name, checkpoint, params.get("revision"), config)
    where = f"checkpoint {checkpoint!r}" if checkpoint else f"the {arch_name or ANY} config"
    return from_configs(cfg, processor, arch_name=arch_name, source=where)


_LABEL_KEYS = ("num_labels", "id2label", "label2id")


def check_params(arch_name: str | None, params: dict[str, Any]) -> dict[str, Any]:
    """What ``zelda recipe check`` builds: the checkpoint's architecture from its
    ``config.json`` with random weights (no weights file is read)."""
    checkpoint = params.get("checkpoint")
    if checkpoint is None:
        return params
    _, cfg, _, arch = _source_configs(arch_name, checkpoint, params.get("revision"),
                                      params.get("config"))
    keys = set(config_keys(_config_class(arch, cfg.get("model_type")))) - set(_LABEL_KEYS)
    config = {k: v for k, v in cfg.items() if k in keys}
    if arch_name is None:
        config["model_type"] = cfg.get("model_type")
    return {**params, "checkpoint": None, "revision": None, "config": config}


def _classifier(net: nn.Module) -> tuple[nn.Module, str]:
    head = getattr(net, "classifier", None)
    if isinstance(head, nn.Linear):
        return net, "classifier"
    raise ZeldaError(f"{type(net).__name__} has no Linear 'classifier' to replace")


def _set_labels(net: nn.Module, labels: list[str]) -> None:
    net.config.num_labels = len(labels)
    net.config.id2label = dict(enumerate(labels))
    net.config.label2id = {name: i for i, name in enumerate(labels)}


def _from_pretrained(cls: type, source: Any, overrides: dict[str, Any], attn: str | None) -> nn.Module:
    try:
        return cls.from_pretrained(**source.load_kwargs(), dtype=torch.float32,
                                   **({"attn_implementation": attn} if attn else {}), **overrides)
    except OSError as exc:
        if source.repo is not None and "offline" in str(exc).lower() or "connect" in str(exc).lower():
            raise src.SourceError(src.offline_message(source, src.first_line(exc))) from None
        raise src.SourceError(f"checkpoint = {source.name} cannot be loaded: "
                              f"{src.first_line(exc)}") from None


def _pretrained_config(cls: type, source: Any, overrides: dict[str, Any]) -> Any:
    try:
        return cls.from_pretrained(**source.load_kwargs(), **overrides)
    except OSError as exc:
        raise src.SourceError(f"checkpoint = {source.name}: its config cannot be read: "
                              f"{src.first_line(exc)}") from None


def _attention(model_cls: type) -> str | None:
    """SDPA where the architecture has it (TimeSformer has only its own attention)."""
    return "sdpa" if getattr(model_cls, "_supports_sdpa", False) else None


def build(arch_name: str | None, *, num_classes: int | None, checkpoint: str | None,
          revision: str | None, config: dict[str, Any] | None, mean: Sequence[float] | None,
          std: Sequence[float] | None, average_clips: str, label_smoothing: float,
          replace_classifier: bool, multi_label: bool, drop_path: float | None) -> HFVideoClassifier:
    """The zelda model (see the module docstring)."""
    if average_clips not in ("prob", "score"):
        raise ValueError(f"average_clips must be 'prob' or 'score', got {average_clips!r}")
    if num_classes is not None and num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    for name, value in (("mean", mean), ("std", std)):
        if value is not None and len(value) != 3:
            raise ValueError(f"{name} needs 3 values (R, G, B on the 0-255 scale), got {value}")
    if drop_path is not None and not 0.0 <= drop_path < 1.0:
        raise ValueError(f"drop_path must be in [0, 1), got {drop_path}")
    source, cfg, processor, arch = _source_configs(arch_name, checkpoint, revision, config)
    config = dict(config or {})
    name = arch_name or cfg.get("model_type", ANY)
    drop_key = None
    if drop_path:
        drop_key = arch.drop_path if arch is not None else "drop_path_rate"
        cls = _config_class(arch, cfg.get("model_type"))
        if drop_key is None or drop_key not in config_keys(cls):
            raise ValueError(f"drop_path: {cls.__name__} has no stochastic depth in transformers "
                             "(V-JEPA 2 and TimeSformer have it); leave drop_path out")
        config.pop(drop_key, None)
    spec = from_configs(cfg, processor, arch_name=arch_name, source=name)
    if arch is not None:
        model_cls = getattr(transformers, arch.model)
        input_name = arch.input_name
    else:
        model_cls = transformers.AutoModelForVideoClassification
        input_name = None
    attn = _attention(model_cls if arch is not None else
                      transformers.MODEL_FOR_VIDEO_CLASSIFICATION_MAPPING[_config_class(None, cfg["model_type"])])
    overrides = {k: v for k, v in config.items() if k != "model_type"}
    cfg_cls = _config_class(arch, cfg.get("model_type"))
    if source is not None:
        if drop_key is not None:  # the config with the rate first: the layers read it when built
            hf_cfg = _pretrained_config(cfg_cls, source, overrides)
            set_config(hf_cfg, drop_key, float(drop_path))
            overrides = {"config": hf_cfg}
        net = _from_pretrained(model_cls, source, overrides, attn)
        weight_classes = int(net.config.num_labels)
        if num_classes is None:
            num_classes = weight_classes
        if weight_classes != num_classes:
            if not replace_classifier:
                raise ValueError(
                    f"checkpoint {source.name} scores {weight_classes} classes but the model is "
                    f"built for {num_classes}: set replace_classifier = true to train a new "
                    f"{num_classes}-class classifier, or num_classes = {weight_classes}")
            parent, attr = _classifier(net)
            old = getattr(parent, attr)
            new = nn.Linear(old.in_features, num_classes)
            nn.init.trunc_normal_(new.weight, std=0.02)
            nn.init.zeros_(new.bias)
            setattr(parent, attr, new)
            _set_labels(net, [f"LABEL_{i}" for i in range(num_classes)])
            print(f"zelda: {name}: checkpoint {source.name} scores {weight_classes} classes; "
                  f"net.{attr} is replaced by a new {num_classes}-class classifier",
                  file=sys.stderr)
    else:
        if num_classes is None:
            raise ValueError("num_classes is not set: give it, or let the engine take it from "
                             "the data set's classes, or give a checkpoint")
        hf_cfg = cfg_cls(**overrides, num_labels=num_classes)
        if drop_key is not None:
            set_config(hf_cfg, drop_key, float(drop_path))
        net = (model_cls if arch is not None else
               transformers.MODEL_FOR_VIDEO_CLASSIFICATION_MAPPING[cfg_cls])(hf_cfg).float()
        if attn:
            net.set_attn_implementation(attn)
    if input_name is None:
        input_name = net.main_input_name
    return HFVideoClassifier(
        net, arch=str(name), input_name=input_name, num_classes=num_classes,
        mean=mean if mean is not None else spec.mean, std=std if std is not None else spec.std,
        average_clips=average_clips, label_smoothing=label_smoothing, multi_label=multi_label,
        processor=processor)


def _factory(arch_name: str | None) -> Callable[..., HFVideoClassifier]:
    def factory(num_classes: int | None = None, checkpoint: str | None = None,
                revision: str | None = None, config: dict[str, Any] | None = None,
                mean: list[float] | None = None, std: list[float] | None = None,
                average_clips: Literal["prob", "score"] = "prob", label_smoothing: float = 0.0,
                replace_classifier: bool = True, multi_label: bool = False,
                drop_path: float | None = None) -> HFVideoClassifier:
        return build(arch_name, num_classes=num_classes, checkpoint=checkpoint,
                     revision=revision, config=config, mean=mean, std=std,
                     average_clips=average_clips, label_smoothing=label_smoothing,
                     replace_classifier=replace_classifier, multi_label=multi_label,
                     drop_path=drop_path)

    label = ARCHS[arch_name].help if arch_name else "any AutoModelForVideoClassification checkpoint"
    factory.__name__ = factory.__qualname__ = arch_name or ANY
    factory.__doc__ = (
        f"Hugging Face {label} as a zelda model.\n\n"
        "checkpoint: a Hub id (revision pins a commit, tag or branch) or a local folder; "
        "config: the *Config keys (random init without checkpoint, overrides with it); "
        "num_classes: filled from the data; replace_classifier: a new classifier when the "
        "checkpoint scores another class count; mean/std: 0-255 scale, default from the "
        "processor config; drop_path: stochastic depth rate (drop_path_rate); multi_label: "
        "BCE and sigmoid scores.")
    factory.input_spec = lambda params: input_spec(arch_name, params)  # type: ignore[attr-defined]
    factory.check_params = lambda params: check_params(arch_name, params)  # type: ignore[attr-defined]
    return factory


videomae = _factory("videomae")
vjepa2 = _factory("vjepa2")
timesformer = _factory("timesformer")
vivit = _factory("vivit")
hf_video = _factory(None)
