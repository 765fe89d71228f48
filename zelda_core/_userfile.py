"""Reading a file the user named: a regular file, under a size limit, never blocking.

Every text file zelda reads from a user (recipes, annotation lists, label maps, prediction
lists, metrics.jsonl) goes through :func:`read_user_text`: the path's kind is checked with
``os.stat`` before it is opened (a FIFO would block forever, ``/dev/zero`` never ends), the
open itself does not block, and at most ``limit`` bytes are read. Messages say what the
path is when it is not what was expected (:func:`expect_file`, :func:`expect_dir`), never
"not found" for something that exists.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

from ._errors import ZeldaError

MiB = 1 << 20
RECIPE_LIMIT = 1 * MiB
"""A recipe file (and each file it ``extends``) is at most this long."""
LIST_LIMIT = 256 * MiB
"""An annotation list or a prediction list (``predict --list``) is at most this long."""
LABEL_MAP_LIMIT = 16 * MiB
"""A label map is at most this long."""
METRICS_LIMIT = 1024 * MiB
"""A run's metrics.jsonl (read by ``zelda plot``) is at most this long."""

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def path_kind(path: str | os.PathLike[str]) -> str:
    """What is at ``path``, in words: "a regular file", "a directory", "a FIFO (named
    pipe)", "a character device", "a broken symbolic link", "a symbolic link loop",
    "missing", or "unreachable (<reason>)"."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop"
        if exc.errno == errno.ENOENT:
            return "a broken symbolic link" if os.path.islink(path) else "missing"
        if exc.errno == errno.ENOTDIR:
            return "missing (a part of the path is a file, not a folder)"
        return f"unreachable ({exc.strerror or exc})"
    except ValueError:  # an embedded NUL byte
        return "missing (the path holds a NUL byte)"
    if stat.S_ISREG(st.st_mode):
        return "a regular file"
    for test, name in _KINDS:
        if test(st.st_mode):
            return name
    return "a special file"


def _problem(path: str | os.PathLike[str], what: str, expected: str, kind: str) -> str:
    if kind.startswith("missing"):
        detail = kind[len("missing"):].strip()
        return f"{what} not found: {path}" + (f" {detail}" if detail else "")
    return f"{what} {path} is {kind}, not {expected}"


def expect_file(path: str | os.PathLike[str], what: str, expected: str = "a regular file") -> str | None:
    """None when ``path`` is a regular file (symbolic links followed), else a message:
    "<what> not found: <path>" or "<what> <path> is a directory, not <expected>"."""
    kind = path_kind(path)
    return None if kind == "a regular file" else _problem(path, what, expected, kind)


def expect_dir(path: str | os.PathLike[str], what: str, expected: str = "a folder") -> str | None:
    """None when ``path`` is a directory, else a message like :func:`expect_file`'s."""
    kind = path_kind(path)
    return None if kind == "a directory" else _problem(path, what, expected, kind)


def read_user_bytes(path: str | os.PathLike[str], what: str, *, limit: int,
                    error: Callable[[str], Exception] = ZeldaError, hint: str = "",
                    expected: str = "a regular file") -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    ``error(message)`` is raised (a ZeldaError subclass, naming ``what`` and the path)
    for anything else: missing, a directory, FIFO or device, a symbolic link loop, a file
    over the limit, an OS error while reading. Never blocks on a FIFO.
    """
    suffix = f" ({hint})" if hint else ""
    problem = expect_file(path, what, expected)
    if problem:
        raise error(problem + suffix)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # replaced between the stat and the open
            raise error(_problem(path, what, expected, path_kind(path)) + suffix)
        if st.st_size > limit:
            raise error(_too_long(path, what, limit))
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as f:
            fd = -1
            data = f.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > limit:  # grew while being read
        raise error(_too_long(path, what, limit))
    return data


def _too_long(path: str | os.PathLike[str], what: str, limit: int) -> str:
    return (f"{what} {path} is longer than {limit // MiB} MiB, the most zelda reads for a "
            f"{what}; is it the right file?")


def decode_utf8(raw: bytes, path: str | os.PathLike[str], what: str,
                error: Callable[[str], Exception] = ZeldaError) -> str:
    """``raw`` as UTF-8 text (a leading byte-order mark dropped); ``error`` names the line
    and column of the first byte that is not UTF-8."""
    bom = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    try:
        return raw[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        start = exc.start + bom
        line = raw.count(b"\n", 0, start) + 1
        column = start - (raw.rfind(b"\n", 0, start) + 1) + 1
        raise error(f"{path}:{line}: {what} is not UTF-8 text (byte {raw[start:start + 1]!r} "
                    f"at column {column}); save it as UTF-8") from None


def read_user_text(path: str | os.PathLike[str], what: str, *, limit: int,
                   error: Callable[[str], Exception] = ZeldaError, hint: str = "",
                   expected: str = "a regular file") -> str:
    """The UTF-8 text of the regular file ``path`` (see :func:`read_user_bytes`), a leading
    byte-order mark dropped; bytes that are not UTF-8 raise ``error`` naming line and column."""
    raw = read_user_bytes(path, what, limit=limit, error=error, hint=hint, expected=expected)
    return decode_utf8(raw, path, what, error)
