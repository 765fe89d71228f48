"""Hook for ``zelda_core._schema``: the engine validates the ``[train]`` table itself."""

from __future__ import annotations

from .config import train_errors

__all__ = ["train_errors"]
