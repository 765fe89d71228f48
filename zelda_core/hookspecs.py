"""The hook specifications: one registration hook per kind of component.

Each hook receives ``register(name, factory, *, help=None)``. ``factory`` is a class,
a function, or a ``"module:attr"`` string that is imported only when the component is
built (so registering costs no heavy import).
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("zelda")
hookimpl = pluggy.HookimplMarker("zelda")

Register = Callable[..., None]


@hookspec
def register_decoders(register: Register) -> None:
    """Register video decoders: factory(path, **options) -> VideoReader."""


@hookspec
def register_transforms(register: Register) -> None:
    """Register data transforms: factory(**params) -> callable(sample: dict) -> dict."""


@hookspec
def register_datasets(register: Register) -> None:
    """Register datasets: factory(**params) -> a map-style dataset of samples."""


@hookspec
def register_models(register: Register) -> None:
    """Register model parts (recognizers, backbones, heads, preprocessors)."""


@hookspec
def register_metrics(register: Register) -> None:
    """Register metrics: factory(**params) -> object with update()/compute()."""
