"""The hook specifications: one registration hook per kind of component, plus commands.

Each component hook receives ``register(name, factory, *, help=None)``. ``factory`` is a
class, a function, or a ``"module:attr"`` string imported only when the component is built
(so registering costs no heavy import). What a factory must return is stated by the
``typing.Protocol`` of its kind in ``zelda_core.api``.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("zelda")
hookimpl = pluggy.HookimplMarker("zelda")

Register = Callable[..., None]


@hookspec
def register_decoders(register: Register) -> None:
    """Register video decoders.

    ``factory(path: str, **options)`` returns a reader satisfying
    :class:`zelda_core.api.Decoder` (subclass :class:`zelda_core.api.VideoReader`).
    It raises ``DecodeError`` for a file it cannot read, and nothing else."""


@hookspec
def register_transforms(register: Register) -> None:
    """Register data transforms.

    ``factory(**params)`` returns a :class:`zelda_core.api.Transform`: a callable taking
    the sample dict and returning it. ``ValueError`` from the factory rejects a parameter."""


@hookspec
def register_datasets(register: Register) -> None:
    """Register datasets.

    ``factory(**params, root, pipeline, decoder, on_error)`` returns a
    :class:`zelda_core.api.Dataset` (subclass :class:`zelda_core.api.VideoDataset`)."""


@hookspec
def register_models(register: Register) -> None:
    """Register model parts (recognizers, backbones, heads, preprocessors).

    The ``[model]`` table's factory returns a :class:`zelda_core.api.Model`; nested typed
    tables are built first and passed to it as objects."""


@hookspec
def register_metrics(register: Register) -> None:
    """Register metrics.

    ``factory(**params)`` returns a :class:`zelda_core.api.Metric` (reset, update,
    compute; optional save)."""


@hookspec
def register_batch_transforms(register: Register) -> None:
    """Register batch transforms (mixup, cutmix, ...: ``[[train.batch_transforms]]``).

    ``factory(**params)`` returns a :class:`zelda_core.api.BatchTransform`: called on each
    training batch on the device, after transfer, as ``transform(inputs, targets, rng)
    -> (inputs, targets)``. ``ValueError`` from the factory rejects a parameter."""


@hookspec
def register_loggers(register: Register) -> None:
    """Register run loggers (experiment trackers, metric files).

    ``factory(**params)`` returns a :class:`zelda_core.api.Logger`; a recipe names it in a
    ``[loggers.NAME]`` table. The engine calls it on rank 0 only, and a logger that raises
    is reported in one line and disabled: it never stops training. Import the tracker's
    library when the logger is built, not when the plugin registers it."""


@hookspec
def register_commands(register: Register) -> None:
    """Register ``zelda`` subcommands: ``register("module.path", group=None)``.

    The module has ``add_parser(subparsers)`` (which adds one subcommand and sets
    ``func``) and ``run(args) -> int``. ``group`` is ``None`` (a top-level command),
    ``"bench"`` or ``"data"``. The module is imported when the parser is built, so it must
    import nothing heavy at module level: ``zelda --help`` stays instant."""
