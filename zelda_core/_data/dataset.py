"""The base class of video datasets: records, per-sample rng, the skip policy.

A dataset plugin subclasses :class:`VideoDataset` and fills ``records`` (``(filename,
label)`` pairs, validated at construction) and ``classes``. Indexing runs the pipeline on
one record with the rng of (seed, epoch, index). With ``on_error = "skip"`` a sample that
fails is replaced by another (chosen from (seed, epoch, index, attempt)) and reported in
the returned sample's ``skipped`` list, which the loader gathers into each batch. In
test mode (evaluation) it is not replaced: the sample is ``{"skipped": [...]}`` with no
inputs, so metrics count every readable video exactly once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from .._errors import DataError, PluginError, ZeldaError
from .._userfile import LABEL_MAP_LIMIT, expect_file
from .._video import VideoOpener
from .listfile import read_list_lines
from .rng import replacement_index, sample_rng

MAX_LISTED = 20
"""How many bad annotation lines an error lists before summarizing the rest."""
MAX_CONSECUTIVE_FAILURES = 10
"""on_error = "skip" gives up (DataError) after this many failures for one sample."""


_collected: ContextVar[list[str] | None] = ContextVar("zelda_collected_problems", default=None)


@contextmanager
def collecting_problems() -> Iterator[list[str]]:
    """Within the block, :func:`raise_problems` appends to the yielded list instead of
    raising, so one pass reports every problem (``zelda data check``)."""
    problems: list[str] = []
    token = _collected.set(problems)
    try:
        yield problems
    finally:
        _collected.reset(token)


def raise_problems(problems: Sequence[str], what: str, hint: str = "") -> None:
    """Raise one DataError listing ``problems`` ("file:line: what"), up to MAX_LISTED."""
    if not problems:
        return
    collected = _collected.get()
    if collected is not None:
        collected.extend(problems)
        return
    shown = list(problems[:MAX_LISTED])
    if len(problems) > MAX_LISTED:
        shown.append(f"... and {len(problems) - MAX_LISTED} more")
    n = len(problems)
    msg = f"{what}: {n} problem{'s' if n != 1 else ''}:\n" + "\n".join(f"  {p}" for p in shown)
    raise DataError(msg + (f"\n{hint}" if hint else ""))


def read_label_map(path: str) -> list[str]:
    """Class names, one per line (line i = label i); trailing blank lines ignored."""
    lines = [line.strip() for line in read_list_lines(
        path, "label map", "one class name per line, line i = label i", limit=LABEL_MAP_LIMIT)]
    while lines and not lines[-1]:
        lines.pop()
    blanks = [f"{path}:{i + 1}: blank line (line i names label i-1; remove it)"
              for i, name in enumerate(lines) if not name]
    raise_problems(blanks, f"label map {path}")
    if not lines:
        raise DataError(f"label map {path} is empty; it needs one class name per line")
    return lines


class VideoDataset:
    """Map-style dataset of videos; subclasses set ``records`` and ``classes``.

    Optional ``spans``: per record, ``(start, end)`` seconds (None: the video's start or
    end) of a clip to cut from its video at sampling (nothing re-encoded): the pipeline's
    reader then shows only those frames.

    ``pipeline``: a ``zelda_core._pipeline.Pipeline`` (or a list of transform tables,
    built here). ``decoder``: ``{type, **options}`` (or a name), checked once here into
    the :class:`VideoOpener` every sample carries as ``opener``. ``on_error``: "raise" or "skip".
    Indexing takes an int (epoch from ``set_epoch``), an ``(index, epoch)`` key, or an
    ``(index, epoch, draw)`` key: the video's ``draw``-th extra appearance in the epoch
    (repeated augmentation, class-balanced sampling), with its own rng.
    """

    epoch_keys = True
    """The loader may pass ``(index, epoch)`` keys (the epoch reaches persistent workers)."""
    multi_label = False
    """True for a dataset whose records carry several labels (a tuple of class indices):
    each sample's ``label`` is then a float32 multi-hot tensor (K,), K = ``len(classes)``,
    and the engine builds the model with ``multi_label=True`` where its factory takes it."""
    unskippable: tuple[type[ZeldaError], ...] = ()
    """Errors that are not a sample's fault (storage down): never replaced under
    ``on_error = "skip"``; raised, or (in a loader worker) passed on as the batch's error."""

    def __init__(self, *, pipeline: Callable[[dict], dict] | Iterable[dict] | None,
                 decoder: dict[str, Any] | str | VideoOpener | None = None, on_error: str = "raise",
                 root: str = ".") -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if pipeline is None:
            pipeline = []
        if not callable(pipeline):
            from .._pipeline import Pipeline

            pipeline = Pipeline.from_config(list(pipeline))
        self.pipeline = pipeline
        self.opener = decoder if isinstance(decoder, VideoOpener) else VideoOpener(decoder, key="data.decoder")
        self.decoder = self.opener.spec
        self.on_error = on_error
        self.root = str(root)
        self.records: list[tuple[str, Any]] = []  # (filename, label), or a tuple of labels if multi_label
        self.sources: list[str] = []  # "file:line" of each record, for messages
        self.spans: list[tuple[float | None, float | None]] | None = None  # per record, seconds
        self.classes: list[str] = []
        self.seed = 0
        self.epoch = 0
        self.test_mode = False
        self.split = ""
        self.defer_errors = False  # the loader sets it: errors travel in the batch

    # -- epoch and seed ---------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Epoch used by ``dataset[index]`` (loader keys carry their own epoch)."""
        self.epoch = int(epoch)

    def set_seed(self, seed: int) -> None:
        """The run's seed (``recipe["seed"]``)."""
        self.seed = int(seed)

    # -- access -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.records)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def labels(self) -> list[Any]:
        """Every record's label, in order (a tuple of labels for a multi-label dataset)."""
        return [label for _, label in self.records]

    def raw_sample(self, index: int, epoch: int | None = None, draw: int = 0) -> dict[str, Any]:
        """The sample dict the pipeline starts from (``draw``: see ``__getitem__``)."""
        filename, label = self.records[index]
        epoch = self.epoch if epoch is None else epoch
        if self.multi_label:
            label = multi_hot(label, len(self.classes))
        opener: Any = self.opener
        span = self.spans[index] if self.spans else (None, None)
        if span != (None, None):  # a trimmed clip: the pipeline sees only its frames
            from .._video_span import SpanOpener

            opener = SpanOpener(opener, *span)
        return {
            "filename": filename, "label": label, "index": int(index), "epoch": int(epoch),
            "rng": sample_rng(self.seed, epoch, index, draw), "test_mode": self.test_mode,
            "opener": opener, "start_index": 0, "modality": "RGB",
        }

    def __getitem__(self, key: int | tuple[int, ...]) -> dict[str, Any]:
        index, epoch = (int(key[0]), int(key[1])) if isinstance(key, tuple) else (int(key), self.epoch)
        draw = int(key[2]) if isinstance(key, tuple) and len(key) > 2 else 0
        if not 0 <= index < len(self.records):
            raise IndexError(f"index {index} out of range for {len(self.records)} samples")
        skipped: list[tuple[str, str]] = []
        current = index
        for attempt in range(MAX_CONSECUTIVE_FAILURES):
            try:
                out = self.pipeline(self.raw_sample(current, epoch, draw))
            except PluginError:  # a component broke its contract: not this video's fault
                raise
            except self.unskippable as exc:
                if self.defer_errors:
                    return {"error": str(exc)}
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is reported, never hidden
                filename = self.records[current][0]
                reason = _reason(exc, filename)
                if self.on_error == "raise":
                    if not isinstance(exc, ZeldaError):
                        raise  # a bug, not bad data: keep the traceback
                    message = (f"{filename} ({self._where(current)}): {reason}. Set "
                               f"data.on_error = \"skip\" to replace unreadable videos and "
                               f"list them at the end")
                    if self.defer_errors:
                        return {"error": message}
                    raise DataError(message) from exc
                skipped.append((filename, reason))
                if self.test_mode:  # evaluation: each video once, none counted twice
                    return {"skipped": skipped}  # no "inputs": the loader leaves it out
                current = replacement_index(len(self.records), self.seed, epoch, index, attempt, draw)
                continue
            out["skipped"] = skipped
            out["record"] = current  # the record the inputs came from (zelda test --dump)
            if skipped:
                out.setdefault("meta", {})["replaces"] = index
            return out
        listing = "; ".join(f"{f}: {r}" for f, r in skipped)
        message = (f"{MAX_CONSECUTIVE_FAILURES} samples in a row failed while replacing sample "
                   f"{index} ({listing}). Check the decoder and the pipeline with 'zelda data "
                   f"check' and 'zelda bench pipeline'")
        if self.defer_errors:
            return {"error": message}
        raise DataError(message)

    def _where(self, index: int) -> str:
        where = self.sources[index] if index < len(self.sources) else ""
        return f"{where}, sample {index}" if where else f"sample {index}"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({len(self)} videos, {len(self.classes)} classes, "
                f"root={self.root!r}, on_error={self.on_error!r})")


def multi_hot(labels: Iterable[int], num_classes: int) -> Any:
    """The float32 (K,) tensor with 1 at each of ``labels``."""
    import torch

    out = torch.zeros(num_classes, dtype=torch.float32)
    out[list(labels)] = 1.0
    return out


def _reason(exc: BaseException, filename: str) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        return reason
    text = str(exc) or type(exc).__name__
    prefix = f"cannot decode {filename}: "
    text = text[len(prefix):] if text.startswith(prefix) else text
    return text if isinstance(exc, ZeldaError) else f"{type(exc).__name__}: {text}"


def classes_mismatch(train: Sequence[str], other: Sequence[str], split: str) -> str | None:
    """Why ``data.<split>``'s classes cannot be scored by a model trained on ``train``'s,
    or None. Numbered classes ("0".."n-1", no label map) fit when there are no more of
    them than the model's (as do named ones with numbered training classes); two lists of
    names must be the same."""
    if not train or not other or list(train) == list(other):
        return None
    def numbered(names: Sequence[str]) -> bool:
        return list(names) == [str(i) for i in range(len(names))]

    if (numbered(other) or numbered(train)) and len(other) <= len(train):
        return None
    if numbered(other) or numbered(train):
        return (f"data.{split} has labels up to {len(other) - 1}, but data.train has "
                f"{len(train)} classes (the model's outputs): those videos could never be "
                f"scored right. Fix the labels, or give both splits the same label_map or "
                f"num_classes")
    return (f"data.{split}'s classes ({len(other)}: {', '.join(other[:3])}...) are not "
            f"data.train's ({len(train)}: {', '.join(train[:3])}...): give both splits the "
            f"same label map")


def check_files(records: Sequence[tuple[str, int]], sources: Sequence[str]) -> list[str]:
    """"file:line: video not found: path" for every record whose file is missing, or
    "file:line: video path is a directory, not a video file" where it is something else."""
    problems = []
    for (path, _), src in zip(records, sources):
        if not os.path.isfile(path):
            problems.append(f"{src}: {expect_file(path, 'video', 'a video file') or 'video not found: ' + path}")
    return problems
