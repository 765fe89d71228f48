"""zelda: video action recognition with PyTorch, built from plugins and TOML recipes.

The public API lives here; modules behind it are private. Names are imported lazily so
``import zelda_core`` (and ``zelda --help``) stays instant and never imports torch or av.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .errors import DataError, DecodeError, PluginError, RecipeError, ZeldaError

__version__ = "0.1.0"

_LAZY = {
    "hookimpl": "zelda_core.hookspecs",
    "hookspec": "zelda_core.hookspecs",
    "open_video": "zelda_core.video",
    "VideoReader": "zelda_core.video",
    "resolve_size": "zelda_core.video",
    "Recipe": "zelda_core.recipe",
    "load_recipe": "zelda_core.recipe",
    "write_resolved": "zelda_core.recipe",
    "validate_recipe": "zelda_core.schema",
    "build": "zelda_core.registry",
    "components": "zelda_core.registry",
    "get_plugin_manager": "zelda_core.plugins",
    "KINDS": "zelda_core.plugins",
}

__all__ = ["ZeldaError", "RecipeError", "PluginError", "DecodeError", "DataError",
           "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zelda_core' has no attribute {name!r}")
