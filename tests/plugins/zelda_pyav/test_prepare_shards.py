"""``zelda data prepare --format shards``: verified WebDataset tars and a manifest with
sizes and checksums; failures set aside with their annotation lines; shares of
``--shard I/N`` complete together; a kill while packing loses nothing."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest
from decoder_fixtures import make_video
from test_prepare import _assert_copy, _dataset, _zelda

pytestmark = pytest.mark.decoder_independent


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _prepare(recipe: Path, out: Path, *extra: str):
    return _zelda("data", "prepare", str(recipe), "--out", str(out), "--workers", "1",
                  "--profile", "copy", "--format", "shards", "--shard-size", "0.05", "--json", *extra)


def _check_set(out: Path, root: Path, tmp: Path) -> dict:
    """Every listed shard is on disk with its size and sha256, every sample's bytes sit at
    its offset with its sha256 and decode to its source's frames; nothing else is there."""
    m = json.loads((out / "shards.json").read_text())
    assert m["format"] == "webdataset" and m["shards"]
    assert sorted(p.name for p in (out / "shards").iterdir()) == sorted(s["name"] for s in m["shards"])
    blobs = {}
    for s in m["shards"]:
        data = (out / "shards" / s["name"]).read_bytes()
        assert len(data) == s["size"] and _sha(data) == s["sha256"], s["name"]
        with tarfile.open(out / "shards" / s["name"]) as tar:  # a plain tar: key.mp4, key.json
            names = tar.getnames()
            assert len(names) == 2 * s["videos"] and all(n.endswith((".mp4", ".json")) for n in names)
        blobs[s["name"]] = data
    for table in m["splits"].values():
        for e in table["samples"]:
            video = blobs[e["shard"]][e["offset"]:e["offset"] + e["size"]]
            assert _sha(video) == e["sha256"]
            copy = tmp / "check" / e["rel"]
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(video)
            _assert_copy(root / e["rel"], copy)
    return m


def test_shards_verified_failures_set_aside_shares_complete_together(tmp_path: Path) -> None:
    root = tmp_path / "data"
    recipe = _dataset(root, 6, corrupt=True)
    out = tmp_path / "prepared"
    first = _prepare(recipe, out, "--shard", "0/2")
    m0 = json.loads(first.stdout)
    assert m0["run"]["videos"] == 4 and not m0["complete"], first.stderr
    assert not (out / "shards.json").exists()  # never looks usable while a share is missing
    second = _prepare(recipe, out, "--shard", "1/2")
    assert second.returncode == 1, second.stderr  # the broken video is reported
    m1 = json.loads(second.stdout)
    assert m1["complete"] and m1["totals"]["prepared"] == 6 and m1["shards"]["count"] >= 3

    m = _check_set(out, root, tmp_path)
    train = [line.rsplit(" ", 1) for line in (root / "train.txt").read_text().splitlines()[1:]]
    want = [(rel, int(label)) for rel, label in train if "broken" not in rel]
    assert [(e["rel"], e["label"]) for e in m["splits"]["train"]["samples"]] == want
    assert m["splits"]["train"]["samples"][0]["source"] == "train.txt:2"
    assert m["splits"]["train"]["classes"] == ["first", "second"]
    report = (out / "prepare_failed.txt").read_text()
    assert "a/broken.mp4: source:" in report and "train.txt:3: a/broken.mp4 0" in report
    assert not [p for p in (out / ".zelda-prepare" / "files").rglob("*") if p.is_file()]

    # again: nothing re-encoded, nothing repacked
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}
    again = json.loads(_prepare(recipe, out, "--shard", "0/2").stdout)
    assert again["run"]["prepared"] == 0 and again["complete"]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()} == stamps


def test_a_kill_while_packing_loses_nothing(tmp_path: Path) -> None:
    root = tmp_path / "data"
    recipe = _dataset(root, 5)
    out = tmp_path / "prepared"
    assert _prepare(recipe, out).returncode == 0
    before = json.loads((out / "shards.json").read_text())
    # what a kill -9 while journaling the second tar leaves: the first tar journaled, the
    # second renamed into place with its journal line torn, the third not started, and
    # every loose copy still there (they are removed once the whole share is packed)
    journal = out / ".zelda-prepare" / "shards-0-of-1.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text(lines[0] + lines[1][:40])
    for e in before["splits"]["train"]["samples"] + before["splits"]["val"]["samples"]:
        loose = out / ".zelda-prepare" / "files" / e["rel"]
        data = (out / "shards" / e["shard"]).read_bytes()[e["offset"]:e["offset"] + e["size"]]
        loose.write_bytes(data)
    for s in before["shards"][2:]:
        (out / "shards" / s["name"]).unlink()
    (out / "shards" / ".share-0-of-1-00002.tar.part").write_bytes(b"half a tar")
    (out / "shards.json").unlink()
    res = _prepare(recipe, out)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["run"]["prepared"] == 0  # nothing encoded again
    after = _check_set(out, root, tmp_path)
    assert after["splits"] == before["splits"] and after["shards"] == before["shards"]
    assert not list((out / "shards").glob(".*.part"))


def test_a_changed_video_is_repacked(tmp_path: Path) -> None:
    root = tmp_path / "data"
    recipe = _dataset(root, 5)
    out = tmp_path / "prepared"
    assert _prepare(recipe, out).returncode == 0
    make_video(root / "a" / "v00.mp4", 40, size=(48, 64))
    with open(out / ".zelda-prepare" / "journal-0-of-1.jsonl", "a") as f:
        f.write('{"rel": "a/v0')  # a line a kill tore: the next entry must not join it
    res = _prepare(recipe, out)
    assert res.returncode == 0 and json.loads(res.stdout)["run"]["prepared"] == 1, res.stderr
    m = _check_set(out, root, tmp_path)
    assert any(e["rel"] == "a/v00.mp4" for e in m["splits"]["train"]["samples"])
    assert json.loads(_prepare(recipe, out).stdout)["run"]["prepared"] == 0
