"""The bounded local cache of a shard set's videos, shared by every process of a machine.

Decoders read files, so a fetched sample becomes a file: ``DIR/<shard sha256>/<sample
sha256>.<ext>``, named by content (a changed shard set can never be served stale, and
the decoders' index cache stays valid across epochs). A shard is fetched whole (one
sequential read, every sample of it unpacked) or, in ``"sample"`` mode, one byte range
per sample. Each file is checked against the manifest's sha256 before it is renamed
into place; a sample whose bytes stay wrong is that sample's error (skippable), a shard
that cannot be read at all is the storage's (never skipped).

Bounded: before a shard's files are added, least recently used shards are removed until
the cache fits ``limit`` bytes. A process reading a shard's file holds a shared lock on
the shard, so eviction (which needs the exclusive one) never pulls a file from under a
decoder; the cache can exceed the limit by the shards being read at that moment.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from zelda_core.api import DataError

from .store import StorageError, Store, shown

SHARDS = "shards/"
"""Where the tars sit, relative to the shard set's folder."""


@dataclass(frozen=True)
class Sample:
    shard: str
    shard_sha: str
    offset: int
    size: int
    sha256: str
    ext: str


class CorruptSample(DataError):
    """A sample's bytes do not match the manifest (after retries): skippable."""


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Cache:
    """``open(sample)`` -> a local file of the sample's bytes, locked while in use."""

    def __init__(self, directory: str, limit: int, store: Store, shard_sizes: dict[str, int],
                 members: dict[str, list[Sample]], mode: str = "shard") -> None:
        self.dir, self.limit, self.store, self.mode = directory, int(limit), store, mode
        self.shard_sizes, self.members = shard_sizes, members
        self._held: list[Any] = []

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_held": []}  # locks stay with the process that took them

    # -- paths ---------------------------------------------------------------------------
    def _shard_dir(self, s: Sample) -> str:
        return os.path.join(self.dir, s.shard_sha[:32])

    def file(self, s: Sample) -> str:
        return os.path.join(self._shard_dir(s), s.sha256[:32] + s.ext)

    # -- use -----------------------------------------------------------------------------
    def open(self, s: Sample) -> str:
        """The sample's local file; its shard stays locked (shared) until :meth:`release`."""
        os.makedirs(self.dir, exist_ok=True)
        folder = self._shard_dir(s)
        lock = open(os.path.join(self.dir, s.shard_sha[:32] + ".lock"), "a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_SH)
            path = self.file(s)
            if not os.path.exists(path):
                fcntl.flock(lock, fcntl.LOCK_EX)  # one process fetches, the others wait
                if not os.path.exists(path):
                    self._fetch(s, folder)
                fcntl.flock(lock, fcntl.LOCK_SH)
            with contextlib.suppress(OSError):
                os.utime(folder)  # least recently used goes first
        except BaseException:
            lock.close()
            raise
        self._held.append(lock)
        return path

    def release(self) -> None:
        """Let go of every shard :meth:`open` locked (the decoder is done)."""
        held, self._held = self._held, []
        for lock in held:
            lock.close()

    # -- fetch ---------------------------------------------------------------------------
    def _fetch(self, s: Sample, folder: str) -> None:
        fits = self.shard_sizes.get(s.shard, 0) <= self.limit
        self._make_room(self.shard_sizes.get(s.shard, s.size) if self.mode == "shard" and fits
                        else s.size, keep=folder)
        os.makedirs(folder, exist_ok=True)
        if self.mode == "shard" and fits:
            self._fetch_shard(s, folder)
        else:
            self._fetch_sample(s)

    def _fetch_sample(self, s: Sample) -> None:
        what = f"shard {s.shard} (bytes {s.offset}-{s.offset + s.size - 1})"
        data = b""
        for _ in range(2):  # a range read that came back wrong is read once more
            data = self.store.read_range(SHARDS + s.shard, s.offset, s.size, what)
            if _sha(data) == s.sha256:
                _write(self.file(s), data)
                return
        raise CorruptSample(f"{what} at {shown(self.store.path(SHARDS + s.shard))}: the sample's bytes "
                            f"do not match the manifest's sha256 (damaged in storage?)")

    def _fetch_shard(self, s: Sample, folder: str) -> None:
        tmp = os.path.join(folder, f".{os.getpid()}.tar.part")
        expected = s.shard_sha

        def check(path: str) -> str | None:
            size = os.path.getsize(path)
            if size != self.shard_sizes[s.shard]:
                return f"got {size} of {self.shard_sizes[s.shard]} bytes"
            return None if _file_sha(path) == expected else "sha256 differs from the manifest's"

        try:
            try:
                self.store.download(SHARDS + s.shard, tmp, f"shard {s.shard}", check)
            except StorageError as e:
                if "sha256 differs" not in str(e) or not os.path.exists(tmp):
                    raise
                # the shard stays damaged: keep the samples whose own sha256 still matches
            with open(tmp, "rb") as f:
                for m in self.members.get(s.shard, [s]):
                    f.seek(m.offset)
                    data = f.read(m.size)
                    if _sha(data) == m.sha256 and not os.path.exists(self.file(m)):
                        _write(self.file(m), data)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if not os.path.exists(self.file(s)):
            raise CorruptSample(f"shard {s.shard} at {shown(self.store.path(SHARDS + s.shard))}: this "
                                f"sample's bytes (offset {s.offset}, {s.size} bytes) do not match "
                                f"the manifest's sha256 (damaged in storage?)")

    def _make_room(self, need: int, keep: str) -> None:
        """Remove least recently used shards (not in use) until ``need`` more bytes fit."""
        with open(os.path.join(self.dir, ".lock"), "a+") as glock:
            fcntl.flock(glock, fcntl.LOCK_EX)
            folders = []
            for name in os.listdir(self.dir):
                path = os.path.join(self.dir, name)
                if os.path.isdir(path) and path != keep:
                    folders.append((_mtime(path), _du(path), name, path))
            total = sum(f[1] for f in folders) + (_du(keep) if os.path.isdir(keep) else 0)
            for _, size, name, path in sorted(folders):
                if total + need <= self.limit:
                    break
                with open(os.path.join(self.dir, name + ".lock"), "a+") as lock:
                    try:
                        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # being read now
                    shutil.rmtree(path, ignore_errors=True)
                    total -= size


def _write(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _file_sha(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _du(path: str) -> int:
    total = 0
    for entry in _scandir(path):
        with contextlib.suppress(OSError):
            total += entry.stat().st_size
    return total


def _scandir(path: str) -> Iterator[os.DirEntry]:
    try:
        with os.scandir(path) as it:
            yield from it
    except OSError:
        return


def members_of(tar_path: str) -> list[tarfile.TarInfo]:
    """The members of a local tar (for tools and tests)."""
    with tarfile.open(tar_path, mode="r:") as tar:
        return tar.getmembers()
