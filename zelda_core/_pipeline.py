"""Pipeline: a list of transforms applied to one sample dict; fusion; the reader's closing.

Fusion: a transform may declare that it can absorb the step that follows it (the
optional ``fuse(next)`` of the ``Transform`` protocol in ``zelda_core.api``). The
pipeline offers each transform its successor once, when it is built; a transform that
accepts returns one new transform doing both (e.g. ``decode`` absorbing a bilinear
``resize`` scales while decoding), named ``first+second``. Output is the same shape;
only speed (and the interpolation, which is the decoder's) differs.

Deferred tail (``defer_tail``, set by the loader for ``data.device_tail``): the samples
carry ``defer_tail = True``, ``decode`` leaves ``zelda_core._deferred.DeferredFrames``, and
each step declaring ``deferrable = True`` records its pixel work on them; before a step
that does not, the pipeline turns them into NumPy frames (see ``_deferred``).

Closing: a step that opens the video leaves the reader in ``sample["reader"]``; the
pipeline closes it when the sample is done, on success or error. No transform closes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

Transform = Callable[[dict[str, Any]], dict[str, Any]]


class Pipeline:
    """Compose ``transforms``; ``names`` label them in timings and errors."""

    def __init__(self, transforms: Sequence[Transform], names: Sequence[str] | None = None,
                 *, fuse: bool = True) -> None:
        transforms = list(transforms)
        names = list(names) if names is not None else [_name(t) for t in transforms]
        if len(names) != len(transforms):
            raise ValueError("Pipeline: one name per transform")
        self.transforms: list[Transform] = []
        self.names: list[str] = []
        self.defer_tail = False  # the loader's data.device_tail: decode leaves DeferredFrames
        i = 0
        while i < len(transforms):
            t, name = transforms[i], names[i]
            fused = _fuse(t, transforms[i + 1]) if fuse and i + 1 < len(transforms) else None
            if fused is not None:
                t, name = fused, f"{name}+{names[i + 1]}"
                i += 1
            self.transforms.append(t)
            self.names.append(name)
            i += 1

    @classmethod
    def from_config(cls, steps: Iterable[dict[str, Any]], *, key: str = "pipeline",
                    file: str | None = None, fuse: bool = True) -> Pipeline:
        """Build every ``{type = "name", ...}`` step through the transforms registry."""
        from ._errors import RecipeError
        from ._registry import build

        if not isinstance(steps, (list, tuple)):
            raise RecipeError(f"expected a list of transform tables, got {type(steps).__name__}",
                              file=file, key=key)
        transforms, names = [], []
        for i, step in enumerate(steps):
            transforms.append(build("transforms", step, key=f"{key}[{i}]", file=file))
            names.append(step["type"])
        return cls(transforms, names, fuse=fuse)

    def tail_plan(self) -> tuple[list[str], list[str]]:
        """(steps run in the batched tail on the frames' device, steps run per sample on
        the CPU after it) when ``defer_tail`` is on; see ``zelda_core._deferred``."""
        from ._deferred import tail_plan

        return tail_plan(self.names, self.transforms)

    @property
    def fused(self) -> bool:
        """Whether a decode+resize fusion happened."""
        return any("+" in n for n in self.names)

    def __call__(self, sample: dict[str, Any],
                 timings: dict[str, float] | None = None) -> dict[str, Any]:
        """Run every transform; with ``timings``, add each one's CPU seconds to it.

        The only place that closes the sample's reader: after the last step, or when a
        step fails (an error between open and decode must not leak the file).
        """
        from ._contracts import check_frame_inds
        from ._deferred import DeferredFrames

        producer: tuple[Any, str] | None = None  # the step that last set frame_inds
        if self.defer_tail:
            sample["defer_tail"] = True
        try:
            for t, name in zip(self.transforms, self.names):
                c0 = time.process_time() if timings is not None else 0.0
                if isinstance(sample.get("imgs"), DeferredFrames) and not getattr(t, "deferrable", False):
                    sample["imgs"] = sample["imgs"].materialize()  # a step on NumPy frames
                inds = sample.get("frame_inds")
                try:
                    out = _checked(t(sample), name)
                except IndexError as exc:  # a reader asked for frames the video lacks
                    raise _index_error(producer or (t, name), name, exc) from exc
                if out.get("frame_inds") is not inds:
                    producer = (t, name)
                    check_frame_inds(out, t, name)
                if out is not sample:  # a new dict: the old one's reader is ours to close
                    _close_reader(sample, keep=out)
                sample = out
                if timings is not None:
                    timings[name] = timings.get(name, 0.0) + time.process_time() - c0
            return sample
        finally:
            _close_reader(sample)

    def __len__(self) -> int:
        return len(self.transforms)

    def __repr__(self) -> str:
        return f"Pipeline({' -> '.join(self.names)})"


def _fuse(t: Any, nxt: Any) -> Any:
    """``t.fuse(nxt)``: the transform doing both steps, or None (the optional capability)."""
    fuse = getattr(t, "fuse", None)
    return fuse(nxt) if callable(fuse) else None


def _close_reader(sample: Any, keep: Any = None) -> None:
    """Close ``sample["reader"]`` unless ``keep`` (the next sample) still holds it."""
    reader = sample.get("reader") if isinstance(sample, dict) else None
    if reader is None or (isinstance(keep, dict) and keep.get("reader") is reader):
        return
    reader.close()
    sample["reader"] = None


def _checked(sample: Any, name: str) -> dict[str, Any]:
    """A transform's result, or a PluginError naming the transform that broke the contract
    (so the error is not a puzzle in the next transform)."""
    if isinstance(sample, dict):
        return sample
    from ._errors import PluginError

    raise PluginError(f"transform '{name}' returned {type(sample).__name__} {sample!r:.60} "
                      "instead of the sample dict (a transform must return the sample; did "
                      "it forget 'return sample'?)")


def _index_error(producer: tuple[Any, str], step: str, exc: IndexError) -> Exception:
    """An out-of-range frame index is the pipeline's fault (the reader's frame count is
    the true one), never the video's: a PluginError naming the step that made it."""
    from ._contracts import INDEX_CLAUSE, broken

    t, name = producer
    return broken(t, "transform", INDEX_CLAUSE,
                  f"step '{name}' gave indices that step '{step}' could not read ({exc})")


def _name(t: Any) -> str:
    return getattr(t, "name", None) or type(t).__name__
