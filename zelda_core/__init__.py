"""zelda: video action recognition with PyTorch, built from plugins and TOML recipes.

The public API lives here; modules behind it are private. Names are imported lazily so
``import zelda_core`` (and ``zelda --help``) stays instant and never imports torch or av.
"""

from __future__ import annotations

from .errors import DataError, DecodeError, PluginError, RecipeError, ZeldaError
from .lazy import lazy_getattr

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

__getattr__ = lazy_getattr(__name__, _LAZY)
