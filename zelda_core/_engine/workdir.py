"""The work dir of a run: checked before anything is computed, locked while a run writes.

- :func:`prepare_work_dir` makes sure the folder exists (or can be made) and takes a
  file, so a run or an evaluation fails in its first second, not after an hour.
- :class:`WorkDirLock` keeps two runs from writing into one folder (their checkpoints,
  ``metrics.jsonl`` and ``summary.json`` would mix): ``.zelda.lock`` holds the pid, host,
  start time and command of the run, under a POSIX record lock (``lockf``) that the OS
  releases when the process dies, so a lock left by ``kill -9`` is recognised as stale
  and taken over. Unlike ``flock``, a record lock is not shared with forked children
  (DataLoader workers), which may outlive a killed run by a few seconds.
- :func:`open_work_dir` is a run's whole hold on it, in one call: the guard that removes
  folders a failed run leaves empty, the check, the lock, the tidying.
- :func:`clean_stale_temporaries` removes the partial ``.name.tmp-PID`` files a killed
  run's atomic writes leave behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import ZeldaError, os_error_message

try:
    import fcntl
except ImportError:  # Windows: no flock, the lock relies on the pid check
    fcntl = None  # type: ignore[assignment]
_HAVE_FLOCK = fcntl is not None

LOCK_NAME = ".zelda.lock"
_TMP_RE = re.compile(r"^\..+\.tmp(?:-(\d+))?$")


class WorkDirError(ZeldaError):
    """A work dir that cannot be used: a file, not writable, full, or held by another run."""


def prepare_work_dir(path: str | os.PathLike, *, create: bool = True, what: str = "the work dir",
                     option: str = "--work-dir") -> Path:
    """``path`` as a folder this process can write into (made when ``create``).

    WorkDirError when it is a file, cannot be made, or is not writable (tested by
    writing a file: permission bits lie for root and on read-only mounts)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise WorkDirError(f"{what} {path} is a file, not a folder; pass a folder path to "
                           f"{option} (it is made if needed)")
    if not create and not path.is_dir():
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkDirError(os_error_message(exc, f"create {what}", exc.filename or path, option)) from exc
    check_writable(path, what, option)
    return path


def check_writable(folder: str | os.PathLike, what: str = "the output folder",
                   option: str = "--work-dir") -> None:
    """WorkDirError unless a file can be created (and is removed) in ``folder``."""
    probe = Path(folder) / f".zelda-write-test-{os.getpid()}"
    try:
        with open(probe, "wb") as f:
            f.write(b"x")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise WorkDirError(os_error_message(exc, f"write into {what}", folder, option)) from exc
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


RUN_OUTPUTS = ("checkpoints", "metrics.jsonl", "metrics.discarded.jsonl", "train.log", "summary.json",
               "resolved.toml", "label_map.txt", "test_metrics.json", "val", "test", "tensorboard", "plots")
"""What a run may write into its work dir (``previous/`` keeps earlier runs' copies)."""

RECORD_NAME = ".zelda-outputs.json"
"""The work dir's own record of the names in it that zelda's runs made: only those are
ever moved to ``previous/``; a user's file or folder of the same name stays put."""

_ZELDA_SUFFIXES = {"checkpoints": (".pth",), "val": (".csv", ".json"), "test": (".csv", ".json"),
                   "plots": (".png", ".svg"), "tensorboard": ("",)}


def _looks_like_ours(path: Path) -> bool:
    """For a work dir with no record (an older zelda's): a name of RUN_OUTPUTS counts as
    a run's when it is a file, or a folder holding only the kind of files a run writes
    there (``val/`` of videos is a dataset's, not ours)."""
    if path.is_symlink():
        return False
    if path.is_file():
        return True
    if not path.is_dir():
        return False
    suffixes = _ZELDA_SUFFIXES.get(path.name, ())
    for f in path.rglob("*"):
        if f.is_dir() and not f.is_symlink():
            continue
        if not f.is_file() or f.is_symlink():
            return False
        if not (path.name == "tensorboard" or f.name.startswith(".") or f.suffix in suffixes):
            return False
    return True


def _recorded(work_dir: Path) -> list[str] | None:
    """The names the record lists (None: no readable record)."""
    try:
        data = json.loads((work_dir / RECORD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    names = data.get("outputs") if isinstance(data, dict) else None
    if not isinstance(names, list):
        return None
    return [n for n in names if n in RUN_OUTPUTS]


def claim_outputs(work_dir: str | os.PathLike) -> list[str]:
    """Record which names of RUN_OUTPUTS this work dir's runs own: those already
    recorded, those not there yet (this run makes them) and, without a record, those an
    older zelda evidently wrote. Call it holding the lock, after any archiving."""
    work_dir = Path(work_dir)
    if not _is_main_process():
        return []
    known = _recorded(work_dir)
    names = [n for n in RUN_OUTPUTS
             if (known is not None and n in known) or not (work_dir / n).exists()
             or (known is None and _looks_like_ours(work_dir / n))]
    from .._outputs import write_output

    try:
        write_output(work_dir / RECORD_NAME, json.dumps({"outputs": names}, indent=2) + "\n",
                     option="the work dir's", fsync=False)
    except ZeldaError as exc:
        raise WorkDirError(str(exc)) from exc
    return names


def archive_previous_run(work_dir: str | os.PathLike) -> Path | None:
    """Move an earlier run's outputs out of the way of a fresh run (into
    ``previous/<time>/``), so checkpoints, logs and summaries never mix two runs and a
    later ``--resume`` cannot pick up the earlier run's ``last.pth``. Only names the work
    dir's record says a run made are moved (without a record: names of RUN_OUTPUTS that
    hold only what a run writes). Then records what this run owns (:func:`claim_outputs`).
    Returns where they went (None: nothing to move). Call it holding the work dir's lock."""
    work_dir = Path(work_dir)
    if not _is_main_process():
        return None
    dest = _archive(work_dir)
    claim_outputs(work_dir)
    return dest


def _archive(work_dir: Path) -> Path | None:
    known = _recorded(work_dir)
    ours = [n for n in RUN_OUTPUTS if (work_dir / n).exists()
            and (n in known if known is not None else _looks_like_ours(work_dir / n))]
    ckpts = work_dir / "checkpoints"
    metrics = work_dir / "metrics.jsonl"
    ran = (("checkpoints" in ours and any(ckpts.iterdir()))
           or ("metrics.jsonl" in ours and metrics.is_file() and metrics.stat().st_size > 0))
    if not ran:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest = work_dir / "previous" / stamp
    n = 1
    while dest.exists():
        n += 1
        dest = work_dir / "previous" / f"{stamp}-{n}"
    try:
        dest.mkdir(parents=True)
        for name in ours:
            os.replace(work_dir / name, dest / name)
        if (work_dir / RECORD_NAME).exists():
            os.replace(work_dir / RECORD_NAME, dest / RECORD_NAME)
    except OSError as exc:
        raise WorkDirError(os_error_message(exc, "move the earlier run's outputs aside in",
                                            work_dir)) from exc
    return dest


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    except OSError:
        return False
    return True


def clean_stale_temporaries(*folders: str | os.PathLike) -> list[Path]:
    """Delete ``.name.tmp-PID`` (and ``.name.tmp``) files no live process of this host is
    writing; returns what was deleted. Call it holding the work dir's lock."""
    removed: list[Path] = []
    if not _is_main_process():
        return removed
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            m = _TMP_RE.match(p.name)
            if not m or not p.is_file():
                continue
            pid = int(m.group(1)) if m.group(1) else None
            if pid is not None and pid != os.getpid() and _alive(pid):
                continue  # pid reuse makes this conservative: the file stays one more run
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
    return removed


def _is_main_process() -> bool:
    """torchrun ranks other than 0 share rank 0's work dir and lock."""
    return os.environ.get("RANK", "0") in ("", "0")


class WorkDirLock:
    """An exclusive lock on a work dir for the lifetime of a run (a context manager).

    ``force``: take the lock even if another run appears to hold it (its owner is gone
    but on another host, or you know better)."""

    def __init__(self, work_dir: str | os.PathLike, *, force: bool = False,
                 command: str | None = None) -> None:
        self.work_dir = Path(work_dir)
        self.path = self.work_dir / LOCK_NAME
        self.force = force
        self.command = command if command is not None else " ".join(sys.argv)
        self._fd: int | None = None
        self.replaced: dict[str, Any] | None = None  # a stale lock this one took over

    def holder(self, fd: int | None = None) -> dict[str, Any] | None:
        """What the lock file says about its owner (None: no lock file or unreadable).

        Read through ``fd`` when this process has the file open: closing another
        descriptor of the file would drop this process's record lock."""
        try:
            if fd is None:
                text = self.path.read_text(encoding="utf-8")
            else:
                text = os.pread(fd, 65536, 0).decode("utf-8", "replace")
            info = json.loads(text or "null")
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) else None

    def acquire(self) -> WorkDirLock:
        if not _is_main_process():
            return self
        for _ in range(5):  # the file can be replaced between open and flock: retry
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if not self._flock(fd):
                    if not self.force:
                        raise WorkDirError(self._busy_message(self.holder(fd) or {}, alive=True))
                    self.replaced = self.holder(fd)
                    self.path.unlink()  # the holder keeps its (now nameless) file and flock
                    os.close(fd)
                    continue
                if not self._same_file(fd):
                    os.close(fd)
                    continue
                info = self.holder(fd)
                if info and not self.force and info.get("host") != socket.gethostname():
                    # another host's lock: its flock does not reach us, its pid means nothing
                    raise WorkDirError(self._busy_message(info, alive=False))
                if (info and not self.force and not _HAVE_FLOCK and info.get("pid") != os.getpid()
                        and isinstance(info.get("pid"), int) and _alive(info["pid"])):
                    raise WorkDirError(self._busy_message(info, alive=True))
                if info and info.get("pid") != os.getpid() and self.replaced is None:
                    self.replaced = info  # a run that died without unlocking (kill -9)
                self._write(fd)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
            return self
        raise WorkDirError(f"could not lock {self.path}: it keeps changing; is another run starting?")

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            if self._same_file(self._fd):
                self.path.unlink()
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = None

    def __enter__(self) -> WorkDirLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- internals --------------------------------------------------------------------

    @staticmethod
    def _flock(fd: int) -> bool:
        if fcntl is None:
            return True
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _same_file(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except OSError:
            return False

    def _write(self, fd: int) -> None:
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": self.command}
        data = (json.dumps(info) + "\n").encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)

    def _busy_message(self, info: dict[str, Any], *, alive: bool) -> str:
        who = (f"pid {info.get('pid', '?')} on {info.get('host', '?')}, started "
               f"{info.get('started', '?')}" + (f": {info['command']}" if info.get("command") else ""))
        if alive:
            return (f"the work dir {self.work_dir} is in use by another run ({who}). Two runs in "
                    "one folder would mix their checkpoints and logs: wait for it to finish, or "
                    "pass another --work-dir")
        return (f"the work dir {self.work_dir} is locked by a run on another host ({who}); this "
                f"host cannot tell whether it is still running. If it is not, pass --force-lock "
                f"(or delete {self.path})")


@contextlib.contextmanager
def removed_if_left_empty(path: str | os.PathLike) -> Any:
    """Folders up to ``path`` that do not exist yet and are still empty when the body fails
    are removed: a run that stops before writing anything leaves no empty ``data/`` or
    ``work_dirs/`` behind. A folder that received a file (a log to read) is kept."""
    path = Path(path).absolute()
    new = [p for p in (path, *path.parents) if not p.exists()]  # deepest first
    try:
        yield
    except BaseException:
        for folder in new:
            try:
                folder.rmdir()
            except FileNotFoundError:
                continue
            except OSError:  # not empty: keep it and everything above
                break
        raise


@dataclass
class HeldWorkDir:
    """What :func:`open_work_dir` found and did, for the run's log."""

    lock: WorkDirLock
    stale: list[Path]  # partial files a killed run left, removed
    moved: Path | None  # where an earlier run's outputs went (None: nothing moved)


@contextlib.contextmanager
def open_work_dir(path: str | os.PathLike, *, main: bool, force: bool = False, archive: bool = True,
                  input_folders: Sequence[tuple[str, str]] = ()) -> Iterator[HeldWorkDir]:
    """A run's work dir for the body, in one call: checked and made (rank 0: ``main``),
    locked (:class:`WorkDirLock`; the other processes share rank 0's lock), tidied (the
    partial files a killed run left removed; with ``archive``, an earlier run's outputs
    moved to ``previous/``); when the body fails, the folders made for it that are still
    empty are removed (:func:`removed_if_left_empty`). A work dir that is, holds or lies
    in one of ``input_folders`` (a split's videos, as ``_data.split_folders`` gives them) is
    refused: run files would mix with the videos, and an archived earlier run would take
    them along."""
    path = Path(path)
    with removed_if_left_empty(path):
        if main:
            from .._outputs import check_output_folder

            check_output_folder(path, input_folders=input_folders, option="the work dir")
            prepare_work_dir(path)
        with WorkDirLock(path, force=force) as lock:
            stale = clean_stale_temporaries(path, path / "checkpoints")  # rank 0 only
            moved = archive_previous_run(path) if archive else None  # rank 0 only
            yield HeldWorkDir(lock, stale, moved)
