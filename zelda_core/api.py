"""The plugin API: everything a plugin author may import from zelda, and nothing else.

Bundled plugins import only from here (or the same names from ``zelda_core``); a test
enforces it. Every other module of ``zelda_core`` is private (its name starts with ``_``)
and may change without notice.

The ``Protocol`` classes state each kind's full contract: what a registered factory must
return, its required and optional members, shapes and dtypes. ``zelda_testing`` (the
conformance kit) checks a component against them.

Importing this module imports neither torch nor numpy (names that need them load lazily).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from ._errors import DataError, DecodeError, PluginError, RecipeError, ZeldaError
from ._lazy import lazy_getattr
from ._video import DEFAULT_DECODER, Size, resolve_size
from .hookspecs import Register, hookimpl, hookspec

if TYPE_CHECKING:
    import numpy as np
    import torch


Sample = dict[str, Any]
"""The dict that flows through a pipeline (keys follow MMAction2; see docs/plugins.md)."""


@runtime_checkable
class Decoder(Protocol):
    """What a decoder factory ``factory(path: str, **options)`` returns: a reader.

    Subclass :class:`VideoReader`, which implements this protocol around one method.
    Index ``i`` is the i-th frame of a full sequential decode, whatever the container
    header claims; ``num_frames`` is the count of frames that really decode.
    Unreadable or truncated data raises :class:`DecodeError` (never another exception);
    an index outside ``[0, num_frames)`` raises ``IndexError``.
    """

    path: str
    num_frames: int
    fps: float
    width: int
    height: int
    codec: str

    @property
    def duration(self) -> float: ...

    def get_frames(self, indices: Sequence[int], *, size: Size = None) -> np.ndarray:
        """uint8 RGB frames ``(N, H, W, 3)`` in the order asked, duplicates allowed.

        ``size``: None (native), an int short side (MMAction2 rounding, see
        :func:`resolve_size`) or ``(h, w)``."""
        ...

    def info(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


@runtime_checkable
class Transform(Protocol):
    """What a transform factory ``factory(**params)`` returns: ``sample -> sample``.

    It returns the sample dict (the same or a new one; never None). Randomness comes from
    ``sample["rng"]`` (a ``numpy.random.Generator`` seeded from (seed, epoch, index)),
    never from global RNG, so every sample is reproducible.

    A step that opens the video calls ``sample["opener"](sample["filename"])`` (the
    dataset's :class:`VideoOpener`: the decoder table was checked once, when the dataset
    was built) and leaves the reader in ``sample["reader"]``; the pipeline closes it when
    the sample is done or a step fails. Transforms never close it.

    Optional capability, fusion: ``fuse(next_step) -> Transform | None``. When the
    pipeline is built it offers each transform the step that directly follows it; a
    transform that can do that step's work too returns a new transform doing both (it
    must not change ``self``), else None. The pair then runs as one step named
    ``first+second``. The bundled ``decode`` absorbs a bilinear ``resize`` this way: the
    decoder converts each frame and resizes it with the resize's own kernel at once, so the
    sample never holds full-size frames (the output is bit-identical to the unfused steps).

    Optional, for samplers: ``min_frames() -> int``, the frames a video needs for one
    clip without an out-of-bound rule (loop or repeat_last); ``zelda data check`` lists
    shorter videos.

    Optional capability: ``input_params``, a class attribute mapping :class:`InputSpec`
    fields (``"frames"``, ``"resize"``, ``"crop"``) to the parameter that sets that field,
    e.g. ``{"crop": "crop_size"}``; a tuple names the parameter, then parameters that also
    settle it (``{"resize": ("size", "scale")}``). A recipe step that leaves the parameter
    out gets the model's value (see :class:`InputSpec`).

    Optional declaration: class attributes ``needs`` and ``adds``, the sample keys the
    transform reads and the keys it adds (a step adding ``inputs`` makes a new sample, as
    ``pack`` does). ``zelda recipe check`` walks each split's pipeline with them: a step
    whose needs no earlier step adds, or a pipeline that ends without ``inputs``, is an
    error naming the step. A transform that declares nothing may add anything (nothing
    after it is judged; the loader still refuses a sample without ``inputs``).
    """

    def __call__(self, sample: Sample) -> Sample: ...


@runtime_checkable
class Dataset(Protocol):
    """What a dataset factory ``factory(**params, root, pipeline, decoder, on_error)`` returns.

    Subclass :class:`VideoDataset`. The engine injects ``root`` (``data.root``),
    ``pipeline`` (the split's transforms), ``decoder`` (a :class:`VideoOpener` for
    ``{type, **options}``, already checked; ``VideoDataset`` also takes the table) and
    ``on_error`` ("raise" or "skip"). Each sample carries the opener as ``opener``. Map-style: ``__len__``, ``__getitem__(index)``
    returning a packed sample ``{"inputs": uint8 tensor (V, C, T, H, W), "label": int,
    "meta": dict}``. ``classes`` names the labels (label i is ``classes[i]``).
    ``records`` lists ``(filename, label)`` pairs, the files a split uses (data tools such
    as ``zelda data check`` and ``zelda data prepare`` read it).

    Optional, for data tools that copy a dataset (``zelda data prepare``): ``root`` (the
    folder every record and data file lies under), ``data_files`` (paths of the other
    files the split reads, such as its annotation file and label map; copied verbatim) and
    ``sources`` (per record, ``"annotation_file:line"`` where it is listed, so a failed
    video's line can be set aside; any other form leaves annotation files untouched).

    Optional ``multi_label: bool`` (``VideoDataset``: False): True when a video may have
    several labels. A record's label is then a tuple of class indices, each sample's
    ``"label"`` a float32 multi-hot tensor (K,) with K = ``len(classes)`` (batches: float32
    (B, K)), and the engine passes ``multi_label=True`` to every model-tree factory that
    takes a ``multi_label`` parameter and leaves it out.

    Optional ``spans`` (``VideoDataset``: None): per record, ``(start, end)`` seconds of a
    clip cut from its video at sampling (None for an open end). Optional
    ``adopt_classes(classes)``: renumber the labels as ``classes`` (a split whose class
    names come from its own annotations); the engine calls it on val/test splits with the
    training split's (or the checkpoint's) classes.
    """

    classes: list[str]
    records: list[tuple[str, int]]

    def __len__(self) -> int: ...

    def __getitem__(self, index: Any) -> Sample: ...


@runtime_checkable
class Model(Protocol):
    """What the top-level model factory (``[model]``) returns: a ``torch.nn.Module`` with

    - ``num_classes: int``, the number of classes it scores;
    - ``average_clips: "prob" | "score"``, how ``predict`` averages views: the mean of
      each view's softmax (then ``predict`` returns probabilities) or of raw scores;
    - ``loss(inputs, targets) -> scalar tensor``: ``inputs`` uint8 (B, V, C, T, H, W) on
      any device (the model moves it); ``targets`` either int64 (B,) class indices or
      float (B, K) rows, one per sample: a target distribution (rows sum to 1: soft
      targets from mixup/cutmix/label smoothing) for a single-label model, multi-hot or
      soft values in [0, 1] for a multi-label one. Single-label: indices -> cross-entropy,
      rows -> soft cross-entropy ``-(t * log_softmax(s)).sum(-1).mean()``; multi-label:
      binary cross-entropy with logits. Each view of a sample trains on the sample's
      target (:func:`targets_loss` and :func:`view_labels` do all of this);
    - ``predict(inputs) -> (B, K)`` float scores, views averaged;
    - optional ``multi_label: bool`` (default False): the model was built for a
      multi-label dataset (its factory took ``multi_label=True``, which the engine passes
      to every model-tree factory with that parameter when the dataset is multi-label);
      its ``predict`` then averages the views' sigmoids (per-class probabilities);
    - optional ``enable_channels_last()``: switch to channels_last_3d memory format.
      Models without it are never converted;
    - optional ``native_formats: tuple[str, ...]`` with ``export_native(fmt, directory, *,
      labels, preprocessing) -> dict``: formats the model writes itself for ``zelda export
      --format`` (e.g. ``"hf"``, the folder ``transformers`` loads). It writes its files
      into ``directory`` (which exists; ``labels`` are the class names, ``preprocessing``
      the test pipeline's sampling, resize, crop, mean and std) and returns the ``[model]``
      table that builds the same model from that folder, naming the folder ``"."``. zelda
      verifies the folder by building that table and comparing ``predict`` on real clips;
      ``zelda predict FOLDER`` builds it the same way;
    - optional ``lr_layers() -> dict[str, int]``: each parameter name (as in
      ``named_parameters()``) -> its layer, 0 the stem/embeddings, increasing to the head
      (the largest). ``train.finetune.layer_decay = d`` scales a parameter's learning rate
      by ``d ** (max_layer - layer)``; a model without it cannot use that key.
    - optional ``enable_gradient_checkpointing()``: recompute activations in the backward
      pass instead of keeping them; ``train.gradient_checkpointing = true`` calls it, and a
      model without it is a recipe error.
    - a factory parameter ``drop_path: float``, by convention, where the network has
      stochastic depth (the rate at its last block).

    Any model-tree table whose factory takes a ``num_classes`` parameter and leaves it out
    gets the dataset's class count from the engine.

    Optional, on the *factory* (not the built model): ``factory.input_spec(params: dict)
    -> InputSpec | None``, the input the model built from ``params`` (the recipe table
    without ``type``) expects, e.g. what its pretrained weights were trained with. It must
    not build the model. Recipe values left out follow it (``zelda recipe show`` prints
    them) and ``zelda recipe check`` reports values that contradict it.
    """

    num_classes: int
    average_clips: Literal["prob", "score"]

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor: ...

    def predict(self, inputs: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class InputSpec:
    """The input a model expects, declared by its factory (``input_spec``), typically what
    its pretrained weights were trained with. None means "no preference".

    When a recipe leaves them out: ``mean``/``std`` (per channel, 0-255 scale) fill every
    model-tree table whose factory takes ``mean``/``std``; ``frames`` (clip length),
    ``resize`` (short side, or ``[h, w]``) and ``crop`` (side of a square crop) fill the
    pipeline steps that declare them (``Transform.input_params``). ``fixed_size``: the model
    takes only ``frames`` x ``crop`` x ``crop`` clips (e.g. fixed positional embeddings), so
    other crops or clip lengths are recipe errors. ``fps`` is the frame rate the weights saw
    (for information). ``source`` names where the values come from, for messages.
    """

    source: str
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    resize: int | tuple[int, int] | None = None
    crop: int | None = None
    frames: int | None = None
    fps: float | None = None
    fixed_size: bool = False


@runtime_checkable
class Backbone(Protocol):
    """A model part: float (N, C, T, H, W) -> features (N, out_channels, T', H', W').

    Declaring ``out_channels: int`` lets the engine fill a head's ``in_channels``."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Metric(Protocol):
    """What a metric factory ``factory(**params)`` returns.

    - ``reset()``: forget everything seen;
    - ``update(scores, labels)``: scores float (B, K) (probabilities when the model's
      ``average_clips`` is "prob"), labels int64 (B,); each video is passed exactly once;
    - ``compute() -> dict[str, float]``; before any update, the same keys with NaN values
      (``train.best_metric`` is checked against them before training);
    - optional ``save(directory: pathlib.Path, classes: list[str]) -> Path``: write
      artefacts (the directory exists).
    """

    def reset(self) -> None: ...

    def update(self, scores: torch.Tensor, labels: torch.Tensor) -> None: ...

    def compute(self) -> dict[str, float]: ...


@runtime_checkable
class BatchTransform(Protocol):
    """What a batch transform factory ``factory(**params)`` returns (``[[train.batch_transforms]]``):
    ``transform(inputs, targets, rng) -> (inputs, targets)``, called on every training
    batch, on the training device, after the batch was transferred (mixup, cutmix).

    - ``inputs``: uint8 (B, V, C, T, H, W) clips, 0-255, not yet normalized (the model
      normalizes them); the result has the same shape, dtype and device (pixel blends
      are rounded back to uint8, as timm's ``FastCollateMixup`` does);
    - ``targets``: float32 (B, K) rows on the same device, one per sample: a target
      distribution for a single-label dataset (the engine made it from the labels, label
      smoothing folded in), multi-hot rows for a multi-label one. The result has the same
      shape; mixing sample i with sample j at weight ``lam`` gives row
      ``lam * t_i + (1 - lam) * t_j``. The row of a sample is trained on by all its views;
    - ``rng``: a ``numpy.random.Generator`` seeded from (seed, epoch, step in the epoch,
      process rank): the only source of randomness, so a resumed run draws the same
      values. Never the global RNGs.

    The batch size stays; metrics never see the result (they are given the hard labels).
    Training only: validation, test and predict batches are never transformed. Several
    transforms run in the order the recipe lists them.
    """

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]: ...


@runtime_checkable
class Logger(Protocol):
    """What a logger factory ``factory(**params)`` returns: it receives what a run
    produces, on rank 0 only. A recipe names it in a ``[loggers.NAME]`` table (``type``
    defaults to ``NAME``). The engine calls, in this order:

    - ``start(params, *, run_name, work_dir)``: once, before training. ``params`` is the
      resolved recipe as a nested dict (what ``resolved.toml`` holds), ``run_name`` the
      work dir's name, ``work_dir`` a ``pathlib.Path`` that exists;
    - ``log_metrics(kind, step, values)``: scalars as they come. ``kind`` is ``"train"``
      (per logged step: loss, lr, ...), ``"epoch"`` (per epoch), ``"val"`` (per
      validation), ``"test"`` (the test of the best checkpoint, once) or
      ``"checkpoint"``; ``step`` the global optimizer step; ``values`` ``{str: value}``,
      numbers (``epoch`` and ``iter`` counters among them; floats may be NaN or inf);
    - ``log_artifact(path, kind)``: a file the run wrote: ``"checkpoint"`` (the best),
      ``"plot"``, ``"report"`` (report.html), ``"metrics"`` (files of the metrics);
    - ``log_summary(summary)``: once, at the end: what ``summary.json`` holds;
    - ``finish(status)``: once, last: ``"success"`` or ``"failed"``; flush and close.

    Optional: ``rewind(epochs_done, iter_in_epoch) -> int``, called when a run resumes
    from a checkpoint, to drop what the interrupted run logged after it.

    A logger that raises is reported in one line and disabled for the rest of the run;
    training goes on. The ``jsonl`` logger alone, ``metrics.jsonl`` (the run's own record,
    which resume, ``zelda plot`` and the report read), stops the run when it fails.
    """

    def start(self, params: dict[str, Any], *, run_name: str, work_dir: Any) -> None: ...

    def log_metrics(self, kind: str, step: int, values: dict[str, Any]) -> None: ...

    def log_artifact(self, path: Any, kind: str) -> None: ...

    def log_summary(self, summary: dict[str, Any]) -> None: ...

    def finish(self, status: str) -> None: ...


Command = Callable[[Any], int]
"""``register_commands`` gives ``add(name, "module:attr", help=...)``: the module has
``add_parser(subparsers)`` and ``run(args) -> int``, imported only when that command runs."""

_LAZY = {
    "VideoReader": "zelda_core._video",
    "open_video": "zelda_core._video",
    "VideoOpener": "zelda_core._video",
    "VideoDataset": "zelda_core._data.dataset",
    "read_label_map": "zelda_core._data.dataset",
    "check_files": "zelda_core._data.dataset",
    "raise_problems": "zelda_core._data.dataset",
    "read_list_lines": "zelda_core._data.listfile",
    "parse_label": "zelda_core._data.listfile",
    "read_user_text": "zelda_core._userfile",
    "expect_file": "zelda_core._userfile",
    "expect_dir": "zelda_core._userfile",
    "path_kind": "zelda_core._userfile",
    "load_recipe": "zelda_core._recipe",
    "build_dataset": "zelda_core._data.build",
    "Normalize": "zelda_core._clip_batch",
    "DeferredFrames": "zelda_core._deferred",
    "num_views": "zelda_core._clip_batch",
    "view_labels": "zelda_core._clip_batch",
    "average_views": "zelda_core._clip_batch",
    "targets_loss": "zelda_core._clip_batch",
    "install_hint": "zelda_core._install",
    "distribution_of": "zelda_core._install",
    "check_output_file": "zelda_core._outputs",
    "json_safe": "zelda_core._engine.log",
    "check_output_folder": "zelda_core._outputs",
    "write_output": "zelda_core._outputs",
}

__all__ = [
    "hookimpl", "hookspec", "Register", "Command", "DEFAULT_DECODER", "Sample", "Size",
    "resolve_size",
    "ZeldaError", "RecipeError", "PluginError", "DecodeError", "DataError",
    "Decoder", "Transform", "Dataset", "Model", "InputSpec", "Backbone", "Metric",
    "BatchTransform", "Logger", *_LAZY,
]

__getattr__ = lazy_getattr(__name__, _LAZY)


def iter_protocols() -> Iterator[tuple[str, type]]:
    """(kind, Protocol) pairs, for documentation and the conformance kit."""
    yield from (("decoders", Decoder), ("transforms", Transform), ("datasets", Dataset),
                ("models", Model), ("metrics", Metric), ("batch_transforms", BatchTransform),
                ("loggers", Logger))
