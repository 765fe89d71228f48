"""Reading a shard set's files wherever they are, through fsspec (s3fs, gcsfs, HTTP).

Credentials come from where each library looks (for S3: ``AWS_*`` variables, including
``AWS_ENDPOINT_URL``, ``~/.aws`` profiles, instance roles; for GCS: application default
credentials); zelda passes ``storage_options`` through and never prints them or a URL's
user and password. Transient failures are retried with exponential backoff; what still
fails is one :class:`StorageError` naming the file and URL.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from zelda_core.api import DataError, install_hint

T = TypeVar("T")

LIBRARIES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "http": "aiohttp",
             "https": "aiohttp"}


_OPENED: list[Any] = []


class StorageError(DataError):
    """A shard set's file could not be read (after retries): the storage's fault, not a
    sample's, so ``on_error = "skip"`` never hides it."""


def protocol(url: str) -> str:
    """"s3", "gs", "https", ... or "file" for a plain path."""
    scheme = urlsplit(url).scheme
    return scheme if len(scheme) > 1 else "file"  # "C:" is a drive, not a scheme


def shown(url: str) -> str:
    """``url`` without a user or password, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    host += f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def join(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name if protocol(base) != "file" else os.path.join(base, name)


class Store:
    """One shard set's folder: ``read(name)`` and ``read_range(name, start, size)`` with
    retries. Picklable; each process opens its own filesystem (fsspec's async clients
    cannot cross a fork)."""

    def __init__(self, url: str, *, storage_options: dict[str, Any] | None = None,
                 retries: int = 5, backoff: float = 0.5, timeout: float = 60.0) -> None:
        self.url = url
        self.options = dict(storage_options or {})
        self.retries, self.backoff, self.timeout = int(retries), float(backoff), float(timeout)
        self._fs: Any = None
        self._pid = -1

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fs": None, "_pid": -1}

    def fs(self) -> Any:
        if self._fs is None or self._pid != os.getpid():
            self._fs, self._pid = self._open(), os.getpid()
            # never collected: a client inherited through fork would try to close itself
            # on its parent's event loop
            _OPENED.append(self._fs)
        return self._fs

    def _open(self) -> Any:
        proto = protocol(self.url)
        try:
            import fsspec
        except ModuleNotFoundError:
            raise DataError(f"reading shards needs fsspec: "
                            f"{install_hint('shards', package=__package__)}") from None
        options = dict(self.options)
        if proto in ("s3", "s3a"):
            # one layer of retries (ours, with backoff and a clear last error), not three
            options.setdefault("config_kwargs", {}).setdefault(
                "retries", {"max_attempts": 1, "mode": "standard"})
            options.setdefault("config_kwargs", {}).setdefault("connect_timeout", self.timeout)
            options.setdefault("config_kwargs", {}).setdefault("read_timeout", self.timeout)
        try:
            fs = fsspec.filesystem(proto, skip_instance_cache=True, **options)
        except (ImportError, ValueError) as e:
            lib = LIBRARIES.get(proto)
            if lib is None:
                raise DataError(f"{shown(self.url)}: no filesystem for '{proto}://' ({e}); "
                                f"use a local path, s3://, gs:// or https://") from None
            raise DataError(f"{shown(self.url)}: reading '{proto}://' needs {lib}: "
                            f"{install_hint('shards', package=__package__)}"
                            + (" (and pip install gcsfs)" if lib == "gcsfs" else "")) from None
        if proto in ("s3", "s3a"):
            fs.retries = 1  # s3fs's own loop (5 tries, no message of ours): ours instead
        return fs

    def path(self, name: str) -> str:
        return join(self.url, name)

    def read(self, name: str, what: str) -> bytes:
        """The whole file ``name`` (``what`` names it in errors)."""
        return self._retry(name, what, lambda fs, p: fs.cat_file(p))

    def read_range(self, name: str, start: int, size: int, what: str) -> bytes:
        """``size`` bytes of ``name`` from ``start``."""
        def get(fs: Any, p: str) -> bytes:
            data = fs.cat_file(p, start=start, end=start + size)
            if len(data) != size:
                raise OSError(f"got {len(data)} of {size} bytes")
            return data
        return self._retry(name, what, get)

    def download(self, name: str, dest: str, what: str, check: Callable[[str], str | None]) -> None:
        """``name`` into the local file ``dest``; ``check(dest)`` returns why the copy is
        wrong (a truncated or damaged transfer: retried) or None."""
        def get(fs: Any, p: str) -> None:
            fs.get_file(p, dest)
            why = check(dest)
            if why:
                raise _Damaged(why)
        self._retry(name, what, get)

    def _retry(self, name: str, what: str, call: Callable[[Any, str], T]) -> T:
        path = self.path(name)
        t0 = time.monotonic()
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(self.backoff * 2 ** (attempt - 1), 30.0) * (0.5 + random.random()))
            try:
                return call(self.fs(), path)
            except DataError:
                raise
            except (FileNotFoundError, PermissionError, IsADirectoryError) as e:
                kind = {FileNotFoundError: "not found", PermissionError: "access denied",
                        IsADirectoryError: "is a folder"}[type(e)]
                hint = (" (credentials come from the AWS_*/GOOGLE_* variables or the "
                        "profiles; check them)" if kind == "access denied" else "")
                raise StorageError(f"{what} {shown(path)}: {kind}{hint}") from None
            except Exception as e:
                if not _transient(e):
                    raise  # a bug, not the network: keep the traceback
                last = _reason(e)
        raise StorageError(
            f"{what} {shown(path)}: {last} (after {self.retries + 1} attempts over "
            f"{time.monotonic() - t0:.0f} s); check that the endpoint is up and reachable, "
            f"or raise the dataset's retries")


class _Damaged(Exception):
    pass


_TRANSPORT = ("botocore", "aiobotocore", "aiohttp", "s3fs", "fsspec", "gcsfs", "google",
              "urllib3", "requests", "http", "ssl", "asyncio")


def _transient(e: BaseException) -> bool:
    """A network, server or transfer error (retried), not a bug."""
    if isinstance(e, (OSError, TimeoutError, EOFError, _Damaged)):
        return True
    return any(type(e).__module__.split(".")[0] == m for m in _TRANSPORT)


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    if len(text) > 200:
        text = text[:200] + "..."
    return f"{type(e).__name__}: {text}" if not isinstance(e, _Damaged) else text
