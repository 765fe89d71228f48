"""Frames whose pixel work after decode is deferred to one batched step on their device.

With ``data.device_tail`` on (``"auto"``: when the decoder decodes on a GPU, NVDEC), the
``decode`` step leaves a :class:`DeferredFrames` in ``sample["imgs"]``: the decoded uint8
frames (N, H, W, 3) as a tensor on the decoding device, plus the pixel operations the
following steps recorded on it. Each step still draws its random parameters per sample,
where and as it always does (the same rng, the same values); it records the pixel work
(``then``) instead of doing it, and reads the frames' shape from ``shape``. ``pack`` puts
the DeferredFrames in ``inputs``, the loader's collate gathers them into a
:class:`DeferredBatch`, and the loader runs :func:`run_tail` in the main process when the
batch arrives: every clip's operations in order, clips whose next operation and shape
agree in one call (resize, flip), then one stack into the (B, V, C, T, H, W) batch on the
device. Decoded frames on a GPU never come back to host memory.

A step that does not declare ``deferrable = True`` gets plain NumPy frames: the pipeline
materializes the clip before it (``materialize``), and that step and those after it run
per sample on the CPU as before. Operations are picklable callables (module-level
functions or ``functools.partial`` of them), so a DeferredFrames of CPU frames travels
from a loader worker. torch is imported only when frames are made or run.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

Op = tuple[Callable[[Any], Any], Hashable | None, tuple[int, ...]]


class DeferredFrames:
    """A sample's frames with the pixel operations still to run on them.

    ``frames``: a uint8 torch tensor (N, H, W, C) on any device. ``shape`` is the shape
    after the operations recorded so far (what a step sees as ``imgs.shape``).
    """

    def __init__(self, frames: Any) -> None:
        self.frames = frames
        self.ops: list[Op] = []
        self._shape = tuple(int(v) for v in frames.shape)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def device(self) -> str:
        """The device the frames are on (where the tail runs)."""
        return str(self.frames.device)

    def then(self, fn: Callable[[Any], Any], shape: Sequence[int] | None = None,
             batch_key: Hashable | None = None) -> DeferredFrames:
        """Record ``fn(tensor) -> tensor``, giving frames of ``shape`` (default: unchanged).

        ``batch_key``: clips whose operation has the same key and whose frames have the same
        shape run as one call on their frames concatenated along the first axis (``fn``
        must then treat each frame alone, as resize and flip do); None: this clip alone
        (per-sample parameters). ``fn`` must be picklable (a module-level function or a
        ``functools.partial`` of one) for loader workers.
        """
        self._shape = tuple(int(v) for v in shape) if shape is not None else self._shape
        self.ops.append((fn, batch_key, self._shape))
        return self

    def crop(self, x: int, y: int, w: int, h: int) -> DeferredFrames:
        """Record ``frames[:, y:y + h, x:x + w]`` (a view where it runs)."""
        n, _, _, c = self._shape
        return self.then(_Crop(x, y, w, h), (n, h, w, c), ("crop", x, y, w, h))

    def flip(self, axis: int, flip: bool = True) -> DeferredFrames:
        """Record a flip of ``axis`` (1: vertical, 2: horizontal, on (N, H, W, C)); with
        ``flip`` false a no-op in its place, so the clips' k-th operations stay alike."""
        if not flip:
            return self.noop()
        return self.then(_Flip(axis), None, ("flip", axis))

    def noop(self) -> DeferredFrames:
        """Record nothing in place of an operation this sample skips (a flip or an
        augmentation not drawn), so the clips' k-th operations stay alike and batch."""
        return self.then(_keep, None, ("keep",))

    def pin_memory(self) -> DeferredFrames:
        """The loader's pin-memory stage: CPU frames pinned (their copy to the GPU then
        runs asynchronously); frames on a GPU as they are."""
        if self.frames.device.type == "cpu":
            self.frames = self.frames.pin_memory()
        return self

    def run(self, device: Any = None) -> Any:
        """This clip's operations alone: its frames as a tensor (on ``device`` if given)."""
        x = self.frames if device is None else self.frames.to(device, non_blocking=True)
        for fn, _, _ in self.ops:
            x = fn(x)
        return x

    def materialize(self) -> Any:
        """The frames as a NumPy array on the host (a step that cannot run deferred)."""
        return self.run().cpu().numpy()

    def __repr__(self) -> str:
        return f"DeferredFrames({self.device}, {self._shape}, {len(self.ops)} ops)"


class _Crop:
    """A picklable crop (a view)."""

    def __init__(self, x: int, y: int, w: int, h: int) -> None:
        self.x, self.y, self.w, self.h = x, y, w, h

    def __call__(self, t: Any) -> Any:
        return t[:, self.y:self.y + self.h, self.x:self.x + self.w]


class _Flip:
    """A picklable flip of one axis."""

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def __call__(self, t: Any) -> Any:
        return t.flip(self.axis)


def _keep(t: Any) -> Any:
    return t


class DeferredBatch(list):
    """The collated batch's DeferredFrames, one per sample, until :func:`run_tail`."""


def is_deferred(value: Any) -> bool:
    """Whether ``value`` is frames (or a batch of them) still waiting for their tail."""
    return isinstance(value, (DeferredFrames, DeferredBatch))


def tail_device(clips: Sequence[DeferredFrames]) -> Any:
    """Where a batch's tail runs: the GPU any of its clips was decoded on, else the CPU
    (a clip decoded on the CPU, e.g. by a decoder's fallback, is moved there)."""
    import torch

    for c in clips:
        if c.frames.device.type != "cpu":
            return c.frames.device
    return torch.device("cpu")


def run_tail(clips: Sequence[DeferredFrames], device: Any = None) -> Any:
    """Every clip's recorded operations, batched where they agree; the stacked result.

    Step k of every clip runs together: clips whose k-th operation has the same
    ``batch_key`` and whose frames have the same shape in one call on their
    concatenated frames, the others one by one. The result is one contiguous tensor
    (B, ...) on ``device`` (default :func:`tail_device`).
    """
    import torch

    device = tail_device(clips) if device is None else device
    xs = [c.frames.to(device, non_blocking=True) for c in clips]
    for k in range(max((len(c.ops) for c in clips), default=0)):
        groups: dict[Hashable, list[int]] = {}
        for i, c in enumerate(clips):
            if k < len(c.ops):
                key = c.ops[k][1]
                group = (key, tuple(xs[i].shape)) if key is not None else ("clip", i)
                groups.setdefault(group, []).append(i)
        for members in groups.values():
            fn = clips[members[0]].ops[k][0]
            if len(members) == 1:
                xs[members[0]] = fn(xs[members[0]])
                continue
            out = fn(torch.cat([xs[i] for i in members]))  # equal shapes: equal parts
            for i, part in zip(members, out.split(out.shape[0] // len(members))):
                xs[i] = part
    return torch.stack(xs) if xs else torch.empty(0, dtype=torch.uint8)


def tail_plan(names: Sequence[str], steps: Sequence[Any]) -> tuple[list[str], list[str]]:
    """(the steps after ``decode`` that run in the batched tail, those after them that run
    per sample on the CPU): the tail is every ``deferrable`` step from the one that
    defers (``defers_frames``) up to the first that is not."""
    start = next((i for i, s in enumerate(steps) if getattr(s, "defers_frames", False)), None)
    if start is None:
        return [], []
    tail, cpu = [], []
    for name, step in zip(names[start + 1:], steps[start + 1:]):
        (tail if not cpu and getattr(step, "deferrable", False) else cpu).append(name)
    decode = names[start]
    if "+" in decode:  # a fused decode+resize: the resize runs in the tail
        tail.insert(0, decode.split("+", 1)[1])
    return tail, cpu
