"""Where a command may write, and how: never onto its own inputs, never onto a special file,
never through a symlink, and never a half-written file left behind.

Every command checks each output path before any work (:func:`check_output_file`,
:func:`check_output_folder`) and writes through :func:`replacing` (a temporary file beside
the target, renamed onto it once complete, removed on any failure).

Paths are compared by their real paths (symlinks and ``..`` resolved) and, for files that
exist, by device and inode (hard links), so no spelling of an input passes as an output.

A symlink at the output path is refused, never followed and never replaced: the atomic
rename would replace the link itself (a link to ``/proc/self/fd/1`` or to a device would
become a regular file), and writing through it would not be atomic. Symlinked folders
*above* the output are fine: they are resolved before the comparison.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from ._errors import ZeldaError, os_error_message

PathLike = str | os.PathLike
Inputs = Iterable[tuple[str, PathLike]]
"""(what, path) pairs: "the checkpoint", ckpt_path."""


class OutputPathError(ZeldaError):
    """An output path that would destroy an input or cannot be written safely."""


def _kind(mode: int) -> str | None:
    """The name of a special file type (None: a regular file or a folder)."""
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return None


def _real(path: PathLike) -> str:
    return os.path.realpath(os.path.abspath(path))


def _inside(child: str, parent: str) -> bool:
    """``child`` is ``parent`` or lies under it (both real paths)."""
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


def _same_file(a: PathLike, b: PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _refuse_link_or_special(path: Path, option: str, *, folder: bool) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError:
        return  # unreadable parent, a name too long...: the write itself reports it
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(path)
        if folder:
            return  # a symlinked folder is resolved; its real path is compared below
        raise OutputPathError(
            f"{option} {path} is a symbolic link (to {target}); zelda replaces an output "
            f"atomically, which would replace the link, so it refuses: name the real file "
            f"({_real(path)}) or another path")
    kind = _kind(st.st_mode)
    if kind is None and folder and not stat.S_ISDIR(st.st_mode):
        raise OutputPathError(f"{option} {path} is a file, not a folder; pass a folder path "
                              f"(it is made if needed)")
    if kind is None and not folder and stat.S_ISDIR(st.st_mode):
        raise OutputPathError(f"{option} {path} is a folder; pass a file path")
    if kind is not None:
        raise OutputPathError(f"{option} {path} is {kind}, not a regular "
                              f"{'folder' if folder else 'file'}; zelda writes its outputs as "
                              f"regular files: pass another path")


def check_output_file(path: PathLike, *, inputs: Inputs = (), input_folders: Inputs = (),
                      option: str = "--out") -> Path:
    """``path`` as a file a command may write: not a symlink, FIFO, device, socket or
    folder; not any of ``inputs`` (files); not inside any of ``input_folders`` (data
    roots: zelda never writes into its input data). OutputPathError names both paths."""
    path = Path(path)
    _refuse_link_or_special(path, option, folder=False)
    real = _real(path)
    for what, src in inputs:
        if src is None:
            continue
        if _real(src) == real or _same_file(src, path):
            raise OutputPathError(f"{option} {path} is {what} ({src}), an input of this "
                                  f"command: writing it would destroy it; pass another path")
    for what, folder in input_folders:
        if folder is None:
            continue
        if _inside(real, _real(folder)):
            raise OutputPathError(f"{option} {path} lies inside {what} ({folder}), an input "
                                  f"of this command; zelda never writes into its input data: "
                                  f"pass a path outside it")
    return path


def check_output_folder(path: PathLike, *, inputs: Inputs = (), input_folders: Inputs = (),
                        option: str = "--out") -> Path:
    """``path`` as a folder a command may write into: not a file or special file; it
    neither is, nor lies inside, nor contains any of ``input_folders``; none of
    ``inputs`` (files) is the folder itself. OutputPathError names both paths."""
    path = Path(path)
    _refuse_link_or_special(path, option, folder=True)
    real = _real(path)
    for what, src in inputs:
        if src is not None and _real(src) == real:
            raise OutputPathError(f"{option} {path} is {what} ({src}); pass another folder")
    for what, folder in input_folders:
        if folder is None:
            continue
        other = _real(folder)
        if _inside(real, other):
            where = "is" if real == other else "lies inside"
            raise OutputPathError(f"{option} {path} {where} {what} ({folder}), an input of "
                                  f"this command; zelda never writes into its input data: "
                                  f"pass a folder outside it")
        if _inside(other, real):
            raise OutputPathError(f"{option} {path} contains {what} ({folder}), an input of "
                                  f"this command; its outputs could land on the inputs: pass "
                                  f"a folder that does not contain it")
    return path


def os_error_text(exc: OSError, action: str, path: PathLike, option: str | None = None) -> str:
    """One line for an OSError that names ``path`` (never "?")."""

    return os_error_message(exc, action, path, option)


@contextlib.contextmanager
def replacing(path: PathLike, *, suffix: str = "", option: str | None = None,
              inputs: Inputs = ()) -> Iterator[Path]:
    """A temporary path beside ``path`` (ending in ``suffix``, for writers that look at
    the extension), renamed onto ``path`` when the block succeeds and removed when it
    fails, so no half-written file is left at either name. ``path`` is checked again here
    (a symlink or special file that appeared since is refused); an OSError of the block
    becomes an OutputPathError naming ``path``."""
    path = Path(path)
    check_output_file(path, inputs=inputs, option=option or "output")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(os_error_text(exc, "create the folder of", path, option)) from exc
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{suffix}")
    try:
        yield tmp
        check_output_file(path, inputs=inputs, option=option or "output")
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputPathError(os_error_text(exc, "write", path, option)) from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def write_output(path: PathLike, data: bytes | str, *, option: str | None = None,
                inputs: Inputs = (), fsync: bool = True) -> Path:
    """``data`` at ``path`` through :func:`replacing` (str is written as UTF-8)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with replacing(path, option=option, inputs=inputs) as tmp, open(tmp, "wb") as f:
        f.write(raw)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    return Path(path)
