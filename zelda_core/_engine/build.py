"""The model and metrics a recipe names, built through the registry, and weights loading.

The engine knows models and metrics only by their contracts (``zelda_core.api.Model``
and ``Metric``); nothing here names a bundled plugin.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import torch

from .._errors import RecipeError
from . import checkpoint as ckpt_io
from .errors import CheckpointError

MODEL_MEMBERS = ("num_classes", "average_clips", "loss", "predict")
"""What the engine uses of a model (see ``zelda_core.api.Model``)."""


def _takes(kind: str, type_name: str, param: str) -> bool:
    from .._params import accepted_params, signature_of
    from .._registry import get_component, resolve_factory

    try:
        factory = resolve_factory(get_component(kind, type_name))
    except RecipeError:  # an unknown type: building reports it with the recipe key
        return False
    sig = signature_of(factory)
    return sig is not None and param in accepted_params(sig)


def _fill_multi_label(table: dict[str, Any]) -> None:
    if isinstance(table.get("type"), str) and "multi_label" not in table and _takes("models", table["type"], "multi_label"):
        table["multi_label"] = True
    for value in table.values():
        if isinstance(value, dict) and "type" in value:
            _fill_multi_label(value)


def is_multi_label(table: Any) -> bool:
    """Whether a (filled) ``[model]`` tree has a part built with ``multi_label = true``."""
    if not isinstance(table, dict):
        return False
    return table.get("multi_label") is True or any(
        is_multi_label(v) for v in table.values() if isinstance(v, dict))


def _fill_num_classes(table: dict[str, Any], num_classes: int, key: str, file: str | None,
                      kind: str = "models") -> None:
    """Give every table of ``table``'s tree whose factory (of ``kind``) takes a
    ``num_classes`` parameter and leaves it out the data's class count; a smaller one
    given is a RecipeError naming its key."""
    if isinstance(table.get("type"), str) and _takes(kind, table["type"], "num_classes"):
        given = table.get("num_classes")
        if given is None:
            table["num_classes"] = int(num_classes)
        elif isinstance(given, int) and not isinstance(given, bool) and given < num_classes:
            raise RecipeError(
                f"{key}.num_classes = {given} but the data has {num_classes} classes; "
                f"set it to {num_classes} or leave it out (it is then taken from the data)",
                file=file, key=f"{key}.num_classes")
    for name, value in table.items():
        if isinstance(value, dict) and "type" in value:
            _fill_num_classes(value, num_classes, f"{key}.{name}", file, kind)


def model_table(data: dict[str, Any], num_classes: int | None, *, file: str | None = None,
                multi_label: bool = False) -> dict[str, Any]:
    """A copy of the recipe's ``[model]`` where every table whose factory takes a
    ``num_classes`` parameter and leaves it out gets the data's class count, and, for
    multi-label data, every table whose factory takes ``multi_label`` and leaves it out
    gets ``multi_label = true``."""
    table = data.get("model")
    if not isinstance(table, dict):
        raise RecipeError(
            "the recipe has no [model] table; add one with a type (zelda plugins lists the "
            "models) and its parts", file=file, key="model")
    table = copy.deepcopy(table)
    if num_classes is not None:
        _fill_num_classes(table, num_classes, "model", file)
    if multi_label:
        _fill_multi_label(table)
    return table


def build_model(table: dict[str, Any], *, file: str | None = None) -> torch.nn.Module:
    """Build a ``[model]`` table through the registry (nested parts first) and check that
    the result is a ``torch.nn.Module`` with the members the engine uses."""
    from .._registry import build

    model = build("models", table, key="model", file=file)
    missing = [m for m in MODEL_MEMBERS if not hasattr(model, m)]
    if not isinstance(model, torch.nn.Module) or missing:
        what = "not a torch.nn.Module" if not isinstance(model, torch.nn.Module) else f"no {', '.join(missing)}"
        raise RecipeError(
            f"model type '{table.get('type')}' built a {type(model).__name__} ({what}); the engine "
            "needs a torch.nn.Module with num_classes, average_clips, loss(inputs, labels) and "
            "predict(inputs) (zelda_core.api.Model)", file=file, key="model")
    return model


def build_metrics(data: dict[str, Any], *, file: str | None = None, needed_for: str | None = None,
                  num_classes: int | None = None, best_metric: str | None = None,
                  notes: list[str] | None = None) -> dict[str, Any]:
    """Every ``[metrics.<name>]`` table built. The recipe names its metrics: there is no
    default. ``needed_for`` (a split) makes an empty ``[metrics]`` an error.

    ``num_classes`` (the data's class count) goes to every metric factory that takes a
    ``num_classes`` parameter and leaves it out, as :func:`model_table` does for models.
    ``best_metric`` (``train.best_metric``) must be among the values the metrics give,
    else a RecipeError before the first epoch. With ``notes``, the warnings a factory
    raises (``warnings.warn``) are appended there, each naming its recipe key, for the
    caller to show once."""
    from .._registry import build

    tables = data.get("metrics") or {}
    if not tables and needed_for:
        raise RecipeError(
            f"the recipe has a [data.{needed_for}] split but no [metrics] table to score it with; "
            "add one, e.g. [metrics.accuracy] with a type that 'zelda plugins' lists under "
            "metrics", file=file, key="metrics")
    from .._contracts import check_metrics

    built = {}
    for name, table in tables.items():
        if num_classes is not None and isinstance(table, dict):
            table = copy.deepcopy(table)
            _fill_num_classes(table, num_classes, f"metrics.{name}", file, kind="metrics")
        if notes is None:
            built[name] = build("metrics", table, key=f"metrics.{name}", file=file)
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            built[name] = build("metrics", table, key=f"metrics.{name}", file=file)
        notes += [_named(str(w.message), f"metrics.{name}", table) for w in caught]
    metrics = check_metrics(built)
    if best_metric is not None:
        _check_best_metric(metrics, best_metric, num_classes, file)
    return metrics


def _named(message: str, key: str, table: Any) -> str:
    """A factory's warning with its recipe key: ``key.param`` when the message starts
    with one of the table's parameters (``k = [1, 5]: ...``), else ``key: message``."""
    first = message.split(" ", 1)[0].split("=", 1)[0]
    if isinstance(table, dict) and first in table and first != "type":
        return f"{key}.{message}"
    return f"{key}: {message}"


def _check_best_metric(metrics: dict[str, Any], name: str, num_classes: int | None,
                       file: str | None) -> None:
    """RecipeError when ``train.best_metric`` names no value of the freshly built
    metrics (asked of their ``compute()`` before any update; a metric that cannot answer
    then leaves the check to the first validation)."""
    given: list[str] = []
    silent: list[str] = []  # metrics naming no value before data (file-only ones do that)
    for key, metric in metrics.items():
        try:
            out = metric.metric.compute()
            metric.metric.reset()
        except Exception:  # noqa: BLE001 - not answerable empty: validation checks it
            return
        if not isinstance(out, dict):
            return
        given += [k for k in out if isinstance(k, str)]
        if not out:
            silent.append(f"metrics.{key}")
    if name in given or name == "samples":
        return
    built = (f" (built for the data's {num_classes} classes; a value that would be the same "
             "for every video at that count, such as a top-k with k not below it, is left "
             "out unless the metric's table asks for it)") if num_classes else ""
    quiet = (f". {', '.join(silent)} named no value before any data: a metric's compute() "
             "names its values before the first update (zelda_core.api.Metric), so a metric "
             "that names them only later breaks that contract") if silent else ""
    raise RecipeError(
        f"train.best_metric = {name!r} is not among the values the recipe's metrics give: "
        f"{', '.join(given) or 'none'}{built}; name one of them{quiet}", file=file,
        key="train.best_metric")


def load_weights(model: torch.nn.Module, ckpt: dict[str, Any], path: str | Path) -> None:
    """The checkpoint's weights into ``model``; CheckpointError when they do not fit."""
    state = ckpt_io.model_state(ckpt)
    ckpt_io.check_finite_weights(state, path)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{path} does not fit the model: {ckpt_io.state_dict_problem(exc)} "
            "(was it trained with another model or number of classes?)") from None


def _check_embedded(recipe: dict[str, Any], path: str | Path) -> None:
    """CheckpointError when the tables predict, test and export read from the checkpoint's
    own recipe are not tables (a damaged or hand-edited checkpoint)."""
    keys = [("data", recipe.get("data")), ("train", recipe.get("train")),
            ("metrics", recipe.get("metrics"))]
    data = recipe.get("data")
    if isinstance(data, dict):
        keys += [(f"data.{split}", data.get(split)) for split in ("train", "val", "test")]
        keys += [("data.decoder_options", data.get("decoder_options"))]
    for key, value in keys:
        if value is not None and not isinstance(value, dict):
            raise CheckpointError(
                f"{path}: the recipe inside has {key} = {value!r:.40}, not a table; the "
                "checkpoint is damaged or was not written by zelda. Use 'zelda test RECIPE "
                "--checkpoint CKPT' with the recipe it was trained with")


def model_from_checkpoint(path: str | Path, *, device: str = "auto") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model from the checkpoint's own recipe, load its weights and put it on
    ``device`` in full precision (eval mode)."""
    from .device import place_model

    ckpt = ckpt_io.load_checkpoint(path)
    recipe = ckpt.get("recipe")
    if not isinstance(recipe, dict) or not isinstance(recipe.get("model"), dict):
        raise CheckpointError(
            f"{path} has no recipe inside (not a zelda checkpoint?); use 'zelda test RECIPE "
            "--checkpoint CKPT' with the recipe it was trained with")
    _check_embedded(recipe, path)
    classes = list(ckpt.get("classes") or [])
    model = build_model(model_table(recipe, len(classes) or None), file=str(path))
    load_weights(model, ckpt, path)
    place_model(model, device=device, amp="none", channels_last=False)
    model.eval()
    return model, ckpt
