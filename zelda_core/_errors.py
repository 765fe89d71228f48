"""The exception hierarchy: every error meant for a user derives from ZeldaError.

The CLI prints a ZeldaError as one paragraph and exits 1; anything else is a bug and
shows a traceback.
"""

from __future__ import annotations


class ZeldaError(Exception):
    """A problem the user can fix: bad recipe, bad data, missing plugin."""


class RecipeError(ZeldaError):
    """A recipe that cannot be read, merged or validated.

    ``file`` and ``key`` (a dotted key path such as ``model.backbone``) locate it.
    ``root_cause``: other problems may follow from this one (a component that cannot be
    imported), so a list of problems shows it first.
    """

    root_cause = False

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None):
        self.file, self.key, self.reason = file, key, message
        where = ", ".join(p for p in (file, f"key '{key}'" if key else None) if p)
        super().__init__(f"{where}: {message}" if where else message)


class PluginError(ZeldaError):
    """A plugin that failed to load, or two plugins that clash."""


class DecodeError(ZeldaError):
    """A video that cannot be opened or decoded. Names the file and the reason."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"cannot decode {path}: {reason}")


class DataError(ZeldaError):
    """Bad annotation files, labels or datasets."""
