"""zelda: video action recognition with PyTorch, built from plugins and TOML recipes.

The public API is what this package exports: the plugin API (``zelda_core.api``: hooks,
errors, base classes, the Protocols of each component kind) plus the recipe/engine entry
points below. Modules whose names start with ``_`` are private. Names load lazily, so
``import zelda_core`` (and ``zelda --help``) stays instant and never imports torch or av.
"""

from __future__ import annotations

from ._lazy import lazy_getattr
from .api import _LAZY as _API_LAZY
from .api import (
    DEFAULT_DECODER,
    Backbone,
    BatchTransform,
    Command,
    DataError,
    Dataset,
    DecodeError,
    Decoder,
    InputSpec,
    Logger,
    Metric,
    Model,
    PluginError,
    RecipeError,
    Register,
    Sample,
    Size,
    Transform,
    ZeldaError,
    hookimpl,
    hookspec,
    resolve_size,
)
from .api import __all__ as _api_all

__version__ = "0.1.0"

_LAZY = {
    **_API_LAZY,
    "Recipe": "zelda_core._recipe",
    "load_recipe": "zelda_core._recipe",
    "write_resolved": "zelda_core._recipe",
    "validate_recipe": "zelda_core._schema",
    "build": "zelda_core._registry",
    "components": "zelda_core._registry",
    "get_plugin_manager": "zelda_core._plugins",
    "KINDS": "zelda_core._plugins",
}

__all__ = ["__version__", *_api_all, *_LAZY]

__getattr__ = lazy_getattr(__name__, _LAZY)
