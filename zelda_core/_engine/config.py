"""The ``[train]`` table of a recipe: parsed, defaulted and validated in one place, its
sub-tables included (``[train.finetune]`` and ``train.init_from``, whose keys
``finetune.py`` documents and applies; ``[train.ema]``, ``ema.py``'s). Checking imports no
torch.

``train_errors`` (used by ``zelda recipe check`` through ``zelda_core._schema``) reports
every problem at once; ``parse_train_config`` raises the first as a RecipeError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from .._errors import RecipeError
from .._params import param_problems

AMP_CHOICES = ("auto", "bf16", "fp16", "none")


@dataclass
class TrainConfig:
    """Every ``[train]`` key with its default (see docs/training.md).

    The annotations are the table's schema: ``zelda_core._params`` checks a recipe's
    ``[train]`` against them, as it checks every component table against its factory."""

    epochs: int = 10
    device: str = "auto"
    amp: Literal["auto", "bf16", "fp16", "none"] = "auto"
    channels_last: bool | Literal["auto"] = "auto"
    compile: bool = False
    optimizer: dict[str, Any] = field(default_factory=lambda: {"type": "Adam", "lr": 1e-3})
    scheduler: dict[str, Any] | None = None
    warmup: dict[str, Any] | None = None
    clip_grad_norm: float | None = None
    accumulate: int = 1
    val_interval: int = 1
    best_metric: str | None = None
    best_mode: Literal["max", "min"] = "max"
    keep_checkpoints: int = 2
    checkpoint_iters: int | None = None
    data_time_warning: float = 0.2
    threads: int | None = None
    deterministic: bool = False
    sync_bn: bool = False
    scale_lr: dict[str, Any] | None = None
    init_from: str | dict[str, Any] | None = None
    finetune: dict[str, Any] | None = None
    label_smoothing: float = 0.0
    class_weights: Literal["inverse_frequency"] | list[float] | None = None
    batch_transforms: list[dict[str, Any]] | None = None
    gradient_checkpointing: bool = False
    ema: dict[str, Any] | None = None


def _errors(table: Any, file: str | None) -> list[RecipeError]:
    if table is None:
        return []
    if not isinstance(table, dict):
        return [RecipeError("'train' must be a table", file=file, key="train")]
    errs: list[RecipeError] = []

    def err(key: str, msg: str) -> None:
        errs.append(RecipeError(msg, file=file, key=f"train.{key}"))

    problems = param_problems(TrainConfig, table)
    for key, sentence in problems:
        err(key, sentence)
    bad = {key for key, _ in problems}
    table = {k: v for k, v in table.items() if k not in bad}
    for key in ("epochs", "accumulate", "val_interval"):
        if key in table and table[key] < 1:
            err(key, f"must be >= 1, got {table[key]}")
    if table.get("keep_checkpoints", 1) < 0:
        err("keep_checkpoints", "must be >= 0 (0 keeps every epoch checkpoint)")
    if table.get("checkpoint_iters") is not None and table["checkpoint_iters"] < 1:
        err("checkpoint_iters", "must be >= 1 (leave it out to checkpoint only at epoch ends)")
    if table.get("threads") is not None and table["threads"] < 1:
        err("threads", "must be >= 1")
    if table.get("clip_grad_norm") is not None and table["clip_grad_norm"] <= 0:
        err("clip_grad_norm", "must be > 0 (leave it out to disable clipping)")
    device = table.get("device", "auto")
    if not (device in ("auto", "cpu", "cuda", "mps") or (device.startswith("cuda:") and device[5:].isdigit())):
        err("device", f"expects 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    for key in ("optimizer", "scheduler"):
        sub = table.get(key)
        if sub is not None and not isinstance(sub.get("type"), str):
            err(key, f"needs a 'type', e.g. {key} = {{ type = "
                + ('"Adam", lr = 0.01 }' if key == "optimizer" else '"CosineAnnealingLR" }'))
        elif sub is not None and key == "scheduler" and sub.get("interval", "epoch") not in ("epoch", "iter"):
            err("scheduler.interval", f"expects 'epoch' or 'iter', got {sub['interval']!r}")
    warm = table.get("warmup")
    if warm is not None:
        unknown = set(warm) - {"iters", "epochs", "start_factor"}
        if unknown:
            err("warmup", f"unknown key(s) {sorted(unknown)}; use iters or epochs, and start_factor")
        elif ("iters" in warm) == ("epochs" in warm):
            err("warmup", "set exactly one of iters (optimizer steps) or epochs")
        else:
            n = warm.get("iters", warm.get("epochs"))
            if isinstance(n, bool) or not isinstance(n, (int, float)) or n <= 0:
                err("warmup", f"the warmup length must be a positive number, got {n!r}")
            sf = warm.get("start_factor", 0.001)
            if isinstance(sf, bool) or not isinstance(sf, (int, float)) or not 0 < sf <= 1:
                err("warmup.start_factor", f"must be in (0, 1], got {sf!r}")
    scale = table.get("scale_lr")
    if scale is not None:
        base = scale.get("base_batch_size")
        if set(scale) != {"base_batch_size"} or isinstance(base, bool) or not isinstance(base, int) or base < 1:
            err("scale_lr", "expects { base_batch_size = N } (N >= 1): the learning rate is multiplied by "
                f"(data.batch_size x processes) / N; got {scale!r}")
    ls = table.get("label_smoothing", 0.0)
    if not 0.0 <= ls < 1.0:
        err("label_smoothing", f"must be in [0, 1) (the share of each target spread over all "
            f"classes; 0.1 in most fine-tuning recipes), got {ls}")
    weights = table.get("class_weights")
    if isinstance(weights, list) and (not weights or any(w < 0 for w in weights) or not any(w > 0 for w in weights)):
        err("class_weights", "expects \"inverse_frequency\" or one weight >= 0 per class "
            f"(in the order of the classes, not all 0), got {weights!r}")
    for name, check in (("finetune", finetune_errors), ("init_from", init_from_errors)):
        for key, sentence in check(table.get(name)):
            err(f"{name}.{key}".rstrip("."), sentence)
    if table.get("ema") is not None:
        for key, sentence in ema_errors(table["ema"]):
            err(f"ema.{key}".rstrip("."), sentence)
    errs += _class_errors(table, file)
    return errs


# --- the sub-tables: [train.finetune] (finetune.py), train.init_from, [train.ema] (ema.py) ---

BATCHNORM_MODES = ("train", "eval", "frozen")
FINETUNE_KEYS = ("freeze", "unfreeze_after", "lr_mult", "batchnorm", "no_decay", "layer_decay")
INIT_FROM_KEYS = ("path", "map", "skip")
EMA_KEYS = ("decay", "warmup", "use")


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def finetune_errors(table: Any) -> list[tuple[str, str]]:
    """(key under ``train.finetune``, sentence) for every problem of the table."""
    if table is None:
        return []
    if not isinstance(table, dict):
        return [("", "expects a table, e.g. [train.finetune] with freeze = [\"net.*\"]")]
    errs = [(k, f"unknown key; keys of [train.finetune]: {', '.join(FINETUNE_KEYS)}")
            for k in table if k not in FINETUNE_KEYS]
    for key in ("freeze", "no_decay"):
        if key in table and not _is_str_list(table[key]):
            errs.append((key, f"expects a list of name patterns, got {table[key]!r}"))
    n = table.get("unfreeze_after")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        errs.append(("unfreeze_after", f"expects a number of epochs >= 1, got {n!r}"))
    if n is not None and "freeze" not in table:
        errs.append(("unfreeze_after", "has nothing to unfreeze: set freeze = [patterns] too"))
    mult = table.get("lr_mult")
    if mult is not None and not (isinstance(mult, dict) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in mult.values())):
        errs.append(("lr_mult", f"expects {{ pattern = factor >= 0 }}, got {mult!r}"))
    decay = table.get("layer_decay")
    if decay is not None and (isinstance(decay, bool) or not isinstance(decay, (int, float))
                              or not 0 < decay <= 1):
        errs.append(("layer_decay", f"expects a factor in (0, 1], e.g. 0.75, got {decay!r}"))
    if table.get("batchnorm", "train") not in BATCHNORM_MODES:
        errs.append(("batchnorm", f"expects one of {', '.join(map(repr, BATCHNORM_MODES))}, "
                                  f"got {table['batchnorm']!r}"))
    return errs


def init_from_errors(value: Any) -> list[tuple[str, str]]:
    """(key under ``train.init_from``, sentence) for every problem of the value."""
    if value is None or isinstance(value, str):
        return []
    if not isinstance(value, dict):
        return [("", f"expects a path or {{ path = ..., map = {{...}}, skip = [...] }}, got {value!r}")]
    errs = [(k, f"unknown key; keys of init_from: {', '.join(INIT_FROM_KEYS)}")
            for k in value if k not in INIT_FROM_KEYS]
    if not isinstance(value.get("path"), str):
        errs.append(("path", "is required: the checkpoint (.pth) to take the weights from"))
    mapping = value.get("map", {})
    if not (isinstance(mapping, dict) and all(isinstance(v, str) for v in mapping.values())):
        errs.append(("map", f"expects {{ regex = replacement }}, got {mapping!r}"))
    else:
        for pattern in mapping:
            try:
                re.compile(pattern)
            except re.error as exc:
                errs.append(("map", f"{pattern!r} is not a regular expression: {exc}"))
    if "skip" in value and not _is_str_list(value["skip"]):
        errs.append(("skip", f"expects a list of name patterns, got {value['skip']!r}"))
    return errs


def ema_errors(table: Any) -> list[tuple[str, str]]:
    """(key under ``train.ema``, sentence) for every problem of the table."""
    if table is None:
        return []
    if not isinstance(table, dict):
        return [("", "expects a table, e.g. [train.ema] with decay = 0.9998")]
    errs = [(k, f"unknown key; keys of [train.ema]: {', '.join(EMA_KEYS)}") for k in table if k not in EMA_KEYS]
    decay = table.get("decay", 0.9998)
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay < 1:
        errs.append(("decay", f"expects a number in (0, 1), e.g. 0.9998, got {decay!r}"))
    warmup = table.get("warmup", 0)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        errs.append(("warmup", f"expects a number of optimizer steps >= 0, got {warmup!r}"))
    if table.get("use", "ema") not in ("ema", "raw"):
        errs.append(("use", f"expects 'ema' or 'raw', got {table['use']!r}"))
    return errs


def _class_errors(table: dict[str, Any], file: str | None) -> list[RecipeError]:
    """Optimizer and scheduler class names exist in torch (imports torch only if named)."""
    errs = []
    for key, module_name in (("optimizer", "torch.optim"), ("scheduler", "torch.optim.lr_scheduler")):
        sub = table.get(key)
        if not sub or not isinstance(sub.get("type"), str):
            continue
        import importlib
        import inspect

        module = importlib.import_module(module_name)
        cls = getattr(module, sub["type"], None)
        if not (inspect.isclass(cls)):
            import difflib

            names = sorted(n for n, v in vars(module).items()
                           if inspect.isclass(v) and not n.startswith("_") and n[0].isupper()
                           and n not in ("Optimizer", "LRScheduler", "Tensor", "Counter"))
            hint = difflib.get_close_matches(sub["type"], names, n=1)
            errs.append(RecipeError(
                f"unknown {key} type {sub['type']!r}"
                + (f"; did you mean '{hint[0]}'?" if hint else "")
                + f" Any class of {module_name} works: {', '.join(names)}.",
                file=file, key=f"train.{key}.type"))
    return errs


def train_errors(recipe: Any) -> list[RecipeError]:
    """Every problem in ``recipe``'s ``[train]`` table (recipe: a Recipe or a dict)."""
    data = recipe.data if hasattr(recipe, "data") else recipe
    file = getattr(recipe, "file", None)
    errs = _errors(data.get("train"), file)
    train = data.get("train")
    if isinstance(train, dict) and train.get("label_smoothing"):
        for key in _smoothing_keys(data.get("model"), "model"):
            errs.append(RecipeError(
                f"train.label_smoothing = {train['label_smoothing']} and {key} both smooth the labels "
                "(they would add up); keep train.label_smoothing (it works for every model, mixup "
                f"included) and remove {key}", file=file, key=key))
    return errs


def _smoothing_keys(table: Any, key: str) -> list[str]:
    """The model-tree keys that set a non-zero ``label_smoothing`` of their own."""
    if not isinstance(table, dict):
        return []
    found = [f"{key}.label_smoothing"] if table.get("label_smoothing") else []
    for name, value in table.items():
        found += _smoothing_keys(value, f"{key}.{name}") if isinstance(value, dict) else []
    return found


def parse_train_config(table: dict[str, Any] | None, *, file: str | None = None) -> TrainConfig:
    """A TrainConfig from a recipe's ``[train]`` table; RecipeError on the first problem."""
    errs = _errors(table, file)
    if errs:
        if len(errs) == 1:
            raise errs[0]
        raise RecipeError(f"{len(errs)} problems:\n" + "\n".join(f"- {e}" for e in errs))
    cfg = TrainConfig(**(table or {}))
    if cfg.clip_grad_norm is not None:
        cfg.clip_grad_norm = float(cfg.clip_grad_norm)
    return cfg
