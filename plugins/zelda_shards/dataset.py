"""``shards``: one split of a ``zelda data prepare --format shards`` set, local or remote.

The dataset is map-style: its records are the manifest's samples in annotation order,
so the engine's sampler does what it does for files: one seeded global shuffle per
epoch, each rank its share of every global step (every rank the same number of steps),
batches spread over the loader's workers, mid-epoch resume at the exact batch, and the
same per-sample random choices as the prepared copy on disk. A sample's video comes
from the bounded local cache (``cache.py``), which fetches whole shards (or byte ranges)
through fsspec with retries.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

from zelda_core.api import DataError, VideoDataset, VideoOpener

from .cache import Cache, Sample
from .store import StorageError, Store, join, protocol, shown

MANIFEST = "shards.json"
MANIFEST_VERSION = 1
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(value: int | str, key: str) -> int:
    """``cache_limit``: bytes as an int, or "500MB", "20 GB", "8GiB"."""
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    else:
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", str(value))
        if not m or m.group(2).lower() not in _UNITS:
            raise DataError(f"{key} = {value!r}: expected bytes, e.g. 20000000000 or \"20GB\"")
        n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if n < 1:
        raise DataError(f"{key} = {value!r}: must be positive")
    return n


def default_cache_dir() -> str:
    base = os.environ.get("ZELDA_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "zelda")
    return os.path.join(base, "shards")


class ShardDataset(VideoDataset):
    """Split ``split`` of the shard set at ``url`` (default ``data.root``): a folder
    holding ``shards.json`` and ``shards/``, as a local path, ``s3://bucket/prefix``,
    ``gs://...`` or ``https://...``.

    ``cache_dir`` (default ``$ZELDA_CACHE_DIR/shards``, ``~/.cache/zelda/shards``) and
    ``cache_limit`` (bytes or "20GB") bound the local cache; ``fetch``: "shard" (whole
    shards, one sequential read each), "sample" (one byte-range read per sample: for a
    cache much smaller than the set) or "auto" (shards when the set fits in the cache).
    ``retries`` and ``backoff`` (seconds, doubled each time) for transient errors;
    ``storage_options`` go to fsspec as they are (endpoint, profile, anonymous access;
    prefer the standard variables and profiles for credentials).
    """

    unskippable = (StorageError,)

    def __init__(self, split: str, *, root: str, pipeline: Callable | list | None,
                 decoder: VideoOpener | dict[str, Any] | None = None, on_error: str = "raise",
                 url: str | None = None, cache_dir: str | None = None,
                 cache_limit: int | str = "20GB", fetch: str = "auto", retries: int = 5,
                 backoff: float = 0.5, timeout: float = 60.0,
                 storage_options: dict[str, Any] | None = None) -> None:
        super().__init__(pipeline=pipeline, decoder=decoder, on_error=on_error, root=root)
        if fetch not in ("auto", "shard", "sample"):
            raise DataError(f"fetch = {fetch!r}: choose 'auto', 'shard' or 'sample'")
        if retries < 0 or backoff < 0 or timeout <= 0:
            raise DataError("retries and backoff must be >= 0 and timeout > 0")
        base = str(url or root)
        if protocol(base) == "file":
            base = os.path.abspath(os.path.expanduser(base))
        self.url = base
        self.store = Store(base, storage_options=storage_options, retries=retries,
                           backoff=backoff, timeout=timeout)
        manifest = self._manifest()
        splits = manifest.get("splits") or {}
        if split not in splits:
            raise DataError(f"{shown(join(base, MANIFEST))} has no split {split!r}; it has "
                            f"{', '.join(sorted(splits)) or 'none'}")
        shards = {s["name"]: s for s in manifest["shards"]}
        table = splits[split]
        self.classes = list(table["classes"])
        by_shard: dict[str, dict[str, Sample]] = {}
        for entries in splits.values():  # a fetched shard unpacks every split's samples
            for e in entries["samples"]:
                s = self._sample(e, shards)
                by_shard.setdefault(s.shard, {})[s.sha256] = s
        members = {name: list(found.values()) for name, found in by_shard.items()}
        self.samples = [self._sample(e, shards) for e in table["samples"]]
        # a multi-label set's labels are lists of class indices (tuples in records)
        self.multi_label = any(isinstance(e["label"], list) for e in table["samples"])
        self.records = [(f"{shown(join(base, 'shards/' + s.shard))}[{e['rel']}]",
                         tuple(e["label"]) if isinstance(e["label"], list) else e["label"])
                        for s, e in zip(self.samples, table["samples"])]
        self.sources = [e.get("source", e["rel"]) for e in table["samples"]]
        if not self.records:
            raise DataError(f"{shown(join(base, MANIFEST))}: split {split!r} lists no video")
        limit = parse_bytes(cache_limit, "cache_limit")
        sizes = {name: s["size"] for name, s in shards.items()}
        if fetch == "auto":
            fetch = "shard" if sum(sizes.values()) <= limit else "sample"
        self.fetch = fetch
        self.cache = Cache(os.path.abspath(os.path.expanduser(cache_dir or default_cache_dir())),
                           limit, self.store, sizes, members, fetch)

    @staticmethod
    def _sample(e: dict[str, Any], shards: dict[str, Any]) -> Sample:
        ext = os.path.splitext(e["rel"])[1].lower() or ".mp4"
        return Sample(e["shard"], shards[e["shard"]]["sha256"], int(e["offset"]), int(e["size"]),
                      e["sha256"], ext)

    def _manifest(self) -> dict[str, Any]:
        where = shown(join(self.url, MANIFEST))
        raw = self.store.read(MANIFEST, "the shard set's manifest")
        try:
            manifest = json.loads(raw)
            if manifest.get("version") != MANIFEST_VERSION or manifest.get("format") != "webdataset":
                raise ValueError(f"version {manifest.get('version')!r}, format {manifest.get('format')!r}")
            for s in manifest["shards"]:
                s["name"], s["size"], s["sha256"]  # noqa: B018 - the keys must be there
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise DataError(f"{where}: not a zelda shard manifest ({e}); write one with "
                            f"'zelda data prepare RECIPE --out DIR --format shards'") from None
        return manifest

    def local_file(self, index: int) -> str:
        """Record ``index``'s video as a local file, fetched if needed (``zelda data
        check`` probes it); StorageError or CorruptSample when it cannot be had."""
        try:
            return self.cache.open(self.samples[index])
        finally:
            self.cache.release()

    def raw_sample(self, index: int, epoch: int | None = None, draw: int = 0) -> dict[str, Any]:
        """The base's sample (``filename``: the shard URL and the video's path, as
        predictions and reports show it) whose ``opener`` opens the cached local copy."""
        self.cache.release()  # the previous sample's decode is over
        sample = super().raw_sample(index, epoch, draw)
        sample["opener"] = LocalOpener(sample["opener"], self.cache.open(self.samples[index]))
        return sample

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        try:
            return super().__getitem__(key)
        finally:
            self.cache.release()


class LocalOpener:
    """The dataset's opener, opening the sample's local file whatever name it is given."""

    def __init__(self, opener: Any, path: str) -> None:
        self.opener, self.path = opener, path

    def __call__(self, _name: str) -> Any:
        return self.opener(self.path)

    def __getattr__(self, name: str) -> Any:
        if name in ("opener", "path"):
            raise AttributeError(name)
        return getattr(self.opener, name)
