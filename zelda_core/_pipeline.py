"""Pipeline: a list of transforms applied to one sample dict, with decode+resize fusion.

Fusion: when a transform that can scale while decoding (it has ``fuse_resize``) is
directly followed by a resize (it has ``target_size(h, w)`` and ``fusable`` is not False:
a resize asking for a non-default interpolation stays separate), the pair becomes one step
named ``decode+resize``: the decoder converts straight to the target size, and the
separate resize pass over full-size frames disappears. Output is the same shape; only
speed (and the interpolation, which is the decoder's) differs.
"""

from __future__ import annotations

import copy
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
        i = 0
        while i < len(transforms):
            t, name = transforms[i], names[i]
            nxt = transforms[i + 1] if i + 1 < len(transforms) else None
            if (fuse and nxt is not None and hasattr(t, "fuse_resize") and hasattr(nxt, "target_size")
                    and getattr(nxt, "fusable", True)):
                t = copy.copy(t)  # never change a transform another pipeline may hold
                t.fuse_resize(nxt)
                name = f"{name}+{names[i + 1]}"
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

    @property
    def fused(self) -> bool:
        """Whether a decode+resize fusion happened."""
        return any("+" in n for n in self.names)

    def __call__(self, sample: dict[str, Any],
                 timings: dict[str, float] | None = None) -> dict[str, Any]:
        """Run every transform; with ``timings``, add each one's CPU seconds to it."""
        try:
            if timings is None:
                for t, name in zip(self.transforms, self.names):
                    sample = _checked(t(sample), name)
                return sample
            for t, name in zip(self.transforms, self.names):
                c0 = time.process_time()
                sample = _checked(t(sample), name)
                timings[name] = timings.get(name, 0.0) + time.process_time() - c0
            return sample
        finally:
            reader = sample.get("reader") if isinstance(sample, dict) else None
            if reader is not None:  # an error between open and decode: release the file
                reader.close()
                sample["reader"] = None

    def __len__(self) -> int:
        return len(self.transforms)

    def __repr__(self) -> str:
        return f"Pipeline({' -> '.join(self.names)})"


def _checked(sample: Any, name: str) -> dict[str, Any]:
    """A transform's result, or a PluginError naming the transform that broke the contract
    (so the error is not a puzzle in the next transform)."""
    if isinstance(sample, dict):
        return sample
    from ._errors import PluginError

    raise PluginError(f"transform '{name}' returned {type(sample).__name__} {sample!r:.60} "
                      "instead of the sample dict (a transform must return the sample; did "
                      "it forget 'return sample'?)")


def _name(t: Any) -> str:
    return getattr(t, "name", None) or type(t).__name__
