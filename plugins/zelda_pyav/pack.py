"""``zelda data prepare --format shards``: the verified copies packed into WebDataset tars.

A shard is a plain POSIX tar (what WebDataset reads): per video, ``KEY.mp4`` (the
verified copy's bytes) and ``KEY.json`` (its path relative to the data root, its label
in each split that lists it, the annotation lines that name it, its frame count and size).
Keys are numbers, so no path spelling can confuse a WebDataset reader.

Each share of ``--shard I/N`` packs its own videos, once all of them are done, into
``OUT/shards/share-I-of-N-KKKKK.tar`` (grouped in sorted order up to ``--shard-size``).
Kill-safe like the copies: a tar is written under a hidden name, fsynced, read back
(its members must sit at the offsets and sizes the manifest will list), checksummed,
renamed, and journaled in ``OUT/.zelda-prepare/shards-I-of-N.jsonl``; a re-run repacks
only tars whose members changed. Once every share is packed, ``OUT/shards.json`` lists
every shard (name, size, sha256) and, per split in annotation order, every sample: its
shard, byte offset, size, sha256, label and annotation line (the readers never re-index
or list a bucket).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from zelda_core.api import ZeldaError, write_output

SHARDS_DIR = "shards"
SHARDS_MANIFEST = "shards.json"
SHARDS_VERSION = 1
_TAR_FORMAT = tarfile.USTAR_FORMAT  # no pax headers: every member's data follows one 512-byte header


def _pack_journal(state: str, share: tuple[int, int]) -> str:
    return os.path.join(state, f"shards-{share[0]}-of-{share[1]}.jsonl")


def open_journal(path: str) -> IO[str]:
    """``path`` for appending, after ending a line a kill left torn (else the next entry
    would join it and be lost with it)."""
    f = open(path, "a+", encoding="utf-8")
    if f.tell():
        f.seek(f.tell() - 1)
        if f.read(1) != "\n":
            f.write("\n")
    return f


def journal_entries(state: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every entry of the ``{prefix}*.jsonl`` journals in ``state``, oldest file name
    first; lines a kill left torn are skipped."""
    if not os.path.isdir(state):
        return
    for name in sorted(os.listdir(state)):
        if not (name.startswith(prefix) and name.endswith(".jsonl")):
            continue
        with open(os.path.join(state, name), encoding="utf-8") as f:
            for line in f:
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                if isinstance(e, dict):
                    yield e


def read_pack_journals(state: str) -> dict[str, dict[str, Any]]:
    """The latest journal entry per shard name over every share (torn lines ignored)."""
    return {e["name"]: e for e in journal_entries(state, "shards-") if "name" in e}


def packed_videos(out: str, state: str) -> dict[str, int]:
    """rel -> size of every video that sits in a journaled shard still on disk."""
    videos: dict[str, int] = {}
    for e in read_pack_journals(state).values():
        try:
            if os.path.getsize(os.path.join(out, SHARDS_DIR, e["name"])) != e["size"]:
                continue
        except OSError:
            continue
        for m in e["members"]:
            videos[m["rel"]] = m["size"]
    return videos


def group(videos: list[tuple[str, int]], shard_bytes: int) -> list[list[tuple[str, int]]]:
    """Consecutive (rel, size) pairs in groups of at most ``shard_bytes`` (one video at least)."""
    groups: list[list[tuple[str, int]]] = []
    total = 0
    for rel, size in videos:
        if not groups or (total + size > shard_bytes and groups[-1]):
            groups.append([])
            total = 0
        groups[-1].append((rel, size))
        total += size
    return groups


def _digest(members: list[tuple[str, int]]) -> str:
    return hashlib.sha1(json.dumps(members).encode()).hexdigest()


def pack_share(out: str, state: str, share: tuple[int, int], videos: list[dict[str, Any]],
               video_path: Callable[[str], str], shard_bytes: int,
               echo: Callable[[str], None]) -> list[str]:
    """Pack this share's done ``videos`` (journal entries plus ``info``: the sample's JSON)
    into tars; returns the rels whose loose copy may now be removed."""
    videos = sorted(videos, key=lambda v: v["rel"])
    journal = read_pack_journals(state)
    folder = os.path.join(out, SHARDS_DIR)
    os.makedirs(folder, exist_ok=True)
    packed: list[str] = []
    groups = group([(v["rel"], v["out_size"]) for v in videos], shard_bytes)
    by_rel = {v["rel"]: v for v in videos}
    written = 0
    names = [f"share-{share[0]}-of-{share[1]}-{k:05d}.tar" for k in range(len(groups))]
    todo = []
    for name, members in zip(names, groups):
        old = journal.get(name)
        if old and old.get("digest") == _digest(members) and \
                _size(os.path.join(folder, name)) == old.get("size"):
            packed += [rel for rel, _ in members]
        else:
            todo.append((name, members))
    # every loose copy located before a tar is replaced (a video may sit in an old tar)
    paths = {rel: video_path(rel) for _, members in todo for rel, _ in members}
    with open_journal(_pack_journal(state, share)) as jf:
        for name, members in todo:
            path = os.path.join(folder, name)
            digest = _digest(members)
            entry = _write_tar(path, [by_rel[rel] for rel, _ in members], paths.__getitem__)
            entry.update(name=name, digest=digest, time=time.time())
            jf.write(json.dumps(entry, separators=(",", ":")) + "\n")
            jf.flush()
            os.fsync(jf.fileno())
            packed += [rel for rel, _ in members]
            written += 1
        # tars of an older grouping of this share: their videos are in the new ones
        keep = set(names)
        for name in os.listdir(folder):
            if name.startswith(f"share-{share[0]}-of-{share[1]}-") and name not in keep:
                _unlink(os.path.join(folder, name))
    echo(f"shards: {len(groups)} tar(s) for this share, {written} written, "
         f"{len(groups) - written} already packed")
    return packed


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def _write_tar(path: str, videos: list[dict[str, Any]], video_path: Callable[[str], str]) -> dict[str, Any]:
    """One verified tar: written under a hidden name, read back, checksummed, renamed."""
    head, tail = os.path.split(path)
    part = os.path.join(head, f".{tail}.part")
    expected = []
    try:
        with open(part, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=_TAR_FORMAT) as tar:
            for n, v in enumerate(videos):
                key = f"{n:06d}"
                ext = os.path.splitext(v["rel"])[1].lower() or ".mp4"
                with open(video_path(v["rel"]), "rb") as f:
                    data = f.read()
                meta = json.dumps(v["info"], sort_keys=True).encode()
                for member, blob in ((key + ext, data), (key + ".json", meta)):
                    info = tarfile.TarInfo(member)
                    info.size, info.mtime, info.mode = len(blob), 0, 0o644
                    tar.addfile(info, io.BytesIO(blob))
                expected.append((key + ext, v["rel"], len(data), hashlib.sha256(data).hexdigest()))
        with open(part, "rb") as raw:
            os.fsync(raw.fileno())
        members = _verify(part, expected)
        sha = _sha256(part)
        size = os.path.getsize(part)
        os.replace(part, path)
    except OSError as e:
        _unlink(part)
        raise ZeldaError(f"cannot write the shard {path}: {e.strerror or e}; free space on that "
                         f"disk and re-run (finished shards are kept)") from e
    return {"size": size, "sha256": sha, "members": members}


def _verify(path: str, expected: list[tuple[str, str, int, str]]) -> list[dict[str, Any]]:
    """Read the tar back: each video at the recorded offset with the recorded bytes."""
    with tarfile.open(path, mode="r:") as tar, open(path, "rb") as raw:
        infos = {i.name: i for i in tar.getmembers()}
        members = []
        for name, rel, size, sha in expected:
            info = infos.get(name)
            if info is None or info.size != size:
                raise ZeldaError(f"shard {path}: member {name} ({rel}) did not read back; re-run")
            raw.seek(info.offset_data)
            if hashlib.sha256(raw.read(size)).hexdigest() != sha:
                raise ZeldaError(f"shard {path}: member {name} ({rel}) read back different "
                                 f"bytes (a failing disk?); re-run")
            members.append({"rel": rel, "member": name, "offset": info.offset_data,
                            "size": size, "sha256": sha})
    return members


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(out: str, state: str, splits: dict[str, list[tuple[str, Any, str]]],
                   classes: dict[str, list[str]], failed: set[str],
                   extra: dict[str, Any]) -> dict[str, Any] | None:
    """``OUT/shards.json`` once every prepared video sits in a shard (else None).

    ``splits``: per split, its records in annotation order as (rel, label, source)."""
    journal = read_pack_journals(state)
    where: dict[str, tuple[str, dict[str, Any]]] = {}
    for e in sorted(journal.values(), key=lambda e: e.get("time", 0)):
        if _size(os.path.join(out, SHARDS_DIR, e["name"])) != e["size"]:
            continue
        for m in e["members"]:
            where[m["rel"]] = (e["name"], m)
    used: dict[str, dict[str, Any]] = {}
    table: dict[str, Any] = {}
    for split, records in splits.items():
        samples = []
        for rel, label, source in records:
            if rel in failed:
                continue
            if rel not in where:
                return None  # a share has not packed yet
            name, m = where[rel]
            used[name] = journal[name]
            samples.append({"shard": name, "offset": m["offset"], "size": m["size"],
                            "sha256": m["sha256"], "label": label, "source": source, "rel": rel})
        table[split] = {"classes": classes[split], "samples": samples}
    manifest = {
        "version": SHARDS_VERSION, "format": "webdataset",
        "shards": [{"name": n, "size": used[n]["size"], "sha256": used[n]["sha256"],
                    "videos": len(used[n]["members"])} for n in sorted(used)],
        "splits": table, **extra,
    }
    write_output(os.path.join(out, SHARDS_MANIFEST), json.dumps(manifest, indent=1) + "\n",
                 option="--out")
    return manifest


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
