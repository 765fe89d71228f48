"""The exception hierarchy: every error meant for a user derives from ZeldaError.

The CLI prints a ZeldaError as one paragraph and exits 1; anything else is a bug and
shows a traceback.
"""

from __future__ import annotations

import errno
import os


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


def os_error_message(exc: OSError, action: str, path: str | os.PathLike | None = None,
                     option: str | None = "--work-dir") -> str:
    """"cannot <action> <path>: <reason>; <what to do>" for an OSError (``option``: the
    command-line option that picks another place; None when the command has none)."""
    named = path if path is not None else exc.filename
    where = str(named) if named is not None else "a file (--debug shows which)"
    reason = exc.strerror or str(exc)
    code = exc.errno
    other = f"pass {option} on another one" if option else "use a path on another one"
    writable = f"pass a writable {option}" if option else "use a writable path"
    folder = f"pass a folder path to {option}" if option else "use another path"
    if code in (errno.ENOSPC, errno.EDQUOT):
        todo = f"free space on that disk, or {other}"
    elif code in (errno.EROFS, errno.EACCES, errno.EPERM):
        todo = f"make it writable, or {writable}"
    elif code in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        todo = f"a file is in the way of a folder: {folder}"
    else:
        todo = "check the path and the disk"
    return f"cannot {action} {where}: {reason}; {todo}"
