"""The ``shards`` dataset against real servers: a folder, moto's S3 and a plain HTTP
server on 127.0.0.1, a proxy that breaks one request in five, and an endpoint that is
down. Every comparison is tensor for tensor against the same prepared copy on disk."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from extras import need

need("s3fs", "shards")
need("moto", "shards")
torch = pytest.importorskip("torch")

from engine_util import SMALL_PIPELINE, make_dataset, small_recipe  # noqa: E402
from kill_resume import kill_mid_epoch, records  # noqa: E402
from object_store import (  # noqa: E402
    CREDENTIALS,
    closed_port,
    fault_proxy,
    http_server,
    s3_env,
    s3_server,
    upload,
)

from zelda_core._data.loader import build_dataloader  # noqa: E402
from zelda_core._recipe import load_recipe  # noqa: E402

pytestmark = pytest.mark.decoder_independent

SHARD_MB = "0.2"  # 2-3 of the 77 kB test videos per shard: 6 shards


def _zelda(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zelda_core", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})}, cwd=cwd)


def shard_recipe(path: Path, url: str, work_dir: Path, *, split_extra: str = "", extra: str = "") -> Path:
    """small_recipe's run on the shard set at ``url``."""
    train_p = SMALL_PIPELINE.format(clips=1, test="")
    val_p = SMALL_PIPELINE.format(clips=2, test=", test_mode = true")
    text = small_recipe(path, Path("unused"), work_dir, extra=extra).read_text()
    head, _, tail = text.partition("[data.train]")
    _, _, tail = tail.partition("[model]")
    head = head.replace('root = "unused"', f'root = "{url}"')
    splits = "".join(f'[data.{s}]\ntype = "shards"\nsplit = "{s}"\ncache_dir = "{path.parent / "cache"}"\n'
                     f'{split_extra}\npipeline = {p}\n\n' for s, p in (("train", train_p), ("val", val_p)))
    path.write_text(head + splits + "[model]" + tail)
    return path


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> dict[str, Path]:
    """The same 10+4 videos prepared twice (profile copy): as files and as 6 shards."""
    tmp = tmp_path_factory.mktemp("sets")
    root = make_dataset(tmp / "data", n_train=10, n_val=4)
    recipe = small_recipe(tmp / "files.toml", root, tmp / "unused")
    for fmt in ("files", "shards"):
        res = _zelda("data", "prepare", str(recipe), "--out", str(tmp / fmt), "--profile", "copy",
                     "--workers", "1", "--format", fmt, "--shard-size", SHARD_MB)
        assert res.returncode == 0, res.stderr
    return {"tmp": tmp, "files": tmp / "files", "shards": tmp / "shards", "recipe": recipe}


def _batches(recipe, split: str = "train", epoch: int = 0, **kw) -> list[dict]:
    loader = build_dataloader(recipe, split, epoch=epoch, **kw)
    try:
        return list(loader)
    finally:
        loader.close()


def _same(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b) and a, (len(a), len(b))
    for i, (x, y) in enumerate(zip(a, b)):
        assert torch.equal(x["inputs"], y["inputs"]), f"batch {i}: inputs differ"
        assert torch.equal(x["label"], y["label"]), f"batch {i}: labels differ"
        assert not x["skipped"] and not y["skipped"]


def _recipe(tmp: Path, url: str, name: str, workers: int, **kw):
    tmp.mkdir(parents=True, exist_ok=True)
    path = shard_recipe(tmp / f"{name}.toml", url, tmp / "w", **kw)
    return load_recipe(path, [f"data.workers={workers}"])


@pytest.mark.parametrize("workers", [0, 2])
def test_s3_http_and_folder_give_the_prepared_copys_tensors(sets, tmp_path, monkeypatch, workers):
    files = load_recipe(sets["recipe"], [f'data.root="{sets["files"]}"', f"data.workers={workers}"])
    want = _batches(files)
    local = _recipe(tmp_path, str(sets["shards"]), "local", workers)
    _same(want, _batches(local))
    with s3_server() as endpoint:
        for k, v in s3_env(endpoint).items():
            monkeypatch.setenv(k, v)
        url = upload(endpoint, sets["shards"], "k2")
        s3 = _recipe(tmp_path / "s3", url, "s3", workers)
        _same(want, _batches(s3))
        # every rank the same number of steps, each sample once (two ranks of one epoch)
        ranks = [build_dataloader(s3, "train", world=2, rank=r) for r in (0, 1)]
        assert len(ranks[0]) == len(ranks[1])
        seen = [m["index"] for r in ranks for b in r for m in b["meta"]]
        assert sorted(seen) == list(range(10))
        assert all(m["filename"].startswith(f"{url}/shards/share-0-of-1-") for m in want_meta(ranks[0]))
    with http_server(sets["shards"]) as base:
        _same(want, _batches(_recipe(tmp_path / "http", base, "http", workers)))


def want_meta(loader) -> list[dict]:
    return [m for b in loader for m in b["meta"]]


@pytest.mark.parametrize("fetch", ["shard", "sample"])
def test_one_request_in_five_failing_loses_and_repeats_nothing(sets, tmp_path, monkeypatch, fetch):
    want = _batches(_recipe(tmp_path, str(sets["shards"]), "local", 0))
    with s3_server() as endpoint:
        url = upload(endpoint, sets["shards"], "k2")
        with fault_proxy(endpoint, every=5) as (proxy, counter):
            for k, v in s3_env(proxy).items():
                monkeypatch.setenv(k, v)
            faulty = _recipe(tmp_path / "s3", url, "faulty", 2,
                             split_extra=f'fetch = "{fetch}"\nretries = 6\nbackoff = 0.01')
            got = _batches(faulty)
    assert counter.failed >= 1, "the proxy broke no request"
    _same(want, got)
    indices = [m["index"] for b in got for m in b["meta"]]
    assert sorted(indices) == list(range(10)), "a sample was lost or counted twice"


def test_endpoint_down_is_one_line(sets, tmp_path):
    recipe = shard_recipe(tmp_path / "r.toml", "s3://zelda-test/k2", tmp_path / "w",
                          split_extra="retries = 1\nbackoff = 0.01")
    res = _zelda("run", str(recipe), env={**s3_env(closed_port())}, cwd=tmp_path)
    assert res.returncode == 1
    lines = [x for x in res.stderr.splitlines() if x.strip() and not x.startswith("(run with --debug")]
    assert len(lines) == 1, res.stderr
    assert "s3://zelda-test/k2/shards.json" in lines[0] and "after 2 attempts" in lines[0], lines[0]
    assert "Traceback" not in res.stderr


def test_endpoint_lost_mid_epoch_is_never_skipped(sets, tmp_path, monkeypatch):
    with s3_server() as endpoint:
        for k, v in s3_env(endpoint).items():
            monkeypatch.setenv(k, v)
        url = upload(endpoint, sets["shards"], "k2")
        recipe = _recipe(tmp_path, url, "s3", 2, split_extra="retries = 1\nbackoff = 0.01")
        recipe.data["data"]["on_error"] = "skip"
        loader = build_dataloader(recipe, "train")
    try:  # the server is gone: the first fetch fails, and skip must not hide it
        with pytest.raises(Exception) as err:
            list(loader)
    finally:
        loader.close()
    text = str(err.value)
    assert type(err.value).__name__ == "DataError", text
    assert "in a row" not in text and text.startswith("shard share-0-of-1-"), text  # not skipped
    for line in text.splitlines():  # one line per sample of the batch, each naming its shard
        assert f"{url}/shards/share-0-of-1-" in line and "after 2 attempts" in line, text


def _damage(shard_set: Path, dest: Path, keep_manifest: bool) -> tuple[str, str]:
    """A copy of the set with one video's bytes overwritten; with ``keep_manifest`` the
    manifest still has the old checksums (damaged in storage), else it is updated (a
    video that was bad when packed). Returns (rel, shard)."""
    import hashlib

    shutil.copytree(shard_set, dest)
    manifest = json.loads((dest / "shards.json").read_text())
    entry = manifest["splits"]["train"]["samples"][3]
    tar = dest / "shards" / entry["shard"]
    with open(tar, "r+b") as f:
        f.seek(entry["offset"])
        f.write(b"\0not a video\0" * (entry["size"] // 13) + b"\0" * (entry["size"] % 13))
    if not keep_manifest:
        data = tar.read_bytes()
        entry["sha256"] = hashlib.sha256(data[entry["offset"]:entry["offset"] + entry["size"]]).hexdigest()
        for s in manifest["shards"]:
            if s["name"] == entry["shard"]:
                s["sha256"] = hashlib.sha256(data).hexdigest()
        (dest / "shards.json").write_text(json.dumps(manifest))
    return entry["rel"], entry["shard"]


@pytest.mark.parametrize("fetch", ["shard", "sample"])
@pytest.mark.parametrize("keep_manifest", [True, False], ids=["checksum", "undecodable"])
def test_a_corrupt_sample_is_skipped_and_reported(sets, tmp_path, keep_manifest, fetch):
    rel, shard = _damage(sets["shards"], tmp_path / "set", keep_manifest)
    recipe = _recipe(tmp_path, str(tmp_path / "set"), "r", 0,
                     split_extra=f'retries = 1\nbackoff = 0.01\nfetch = "{fetch}"')
    recipe.data["data"]["on_error"] = "skip"
    batches = _batches(recipe)
    skipped = [s for b in batches for s in b["skipped"]]
    assert [name for name, _ in skipped] == [f"{tmp_path / 'set'}/shards/{shard}[{rel}]"], skipped
    assert ("sha256" in skipped[0][1]) == keep_manifest, skipped
    assert sum(len(b["meta"]) for b in batches) == 10  # replaced, as for files
    recipe.data["data"]["on_error"] = "raise"
    with pytest.raises(Exception, match=rf"shards/{shard}\[{rel}\]"):
        _batches(recipe)


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_the_cache_stays_within_its_limit(sets, tmp_path):
    manifest = json.loads((sets["shards"] / "shards.json").read_text())
    sizes = sorted(s["size"] for s in manifest["shards"])
    limit = sizes[-1] + sizes[-2]  # two shards of six
    want = _batches(_recipe(tmp_path, str(sets["shards"]), "local", 0))
    recipe = _recipe(tmp_path / "small", str(sets["shards"]), "r", 0,
                     split_extra=f'fetch = "shard"\ncache_limit = {limit}')
    for epoch in (0, 1):
        got = _batches(recipe, epoch=epoch)
        assert _du(tmp_path / "small" / "cache") <= limit
    _same(_batches(_recipe(tmp_path, str(sets["shards"]), "local", 0), epoch=1), got)
    _same(want, _batches(recipe))


def test_webdataset_reads_the_shards(sets):
    wds = need("webdataset", "shards")
    manifest = json.loads((sets["shards"] / "shards.json").read_text())
    urls = [str(sets["shards"] / "shards" / s["name"]) for s in manifest["shards"]]
    seen = {}
    for sample in wds.WebDataset(urls, shardshuffle=False):
        info = json.loads(sample["json"])
        seen[info["rel"]] = (len(sample["mp4"]), info["labels"])
    for split, table in manifest["splits"].items():
        for e in table["samples"]:
            assert seen[e["rel"]] == (e["size"], {**seen[e["rel"]][1], split: e["label"]})
    assert len(seen) == 14


@pytest.mark.slow
def test_kill9_mid_epoch_streaming_from_s3_resumes_exactly(sets, tmp_path):
    with s3_server() as endpoint:
        url = upload(endpoint, sets["shards"], "k2")
        env = s3_env(endpoint)
        recipe = shard_recipe(tmp_path / "r.toml", url, tmp_path / "unused", extra="checkpoint_iters = 1")
        common = ["--set", "data.workers=2", "--set", "data.batch_size=1", "--set", "train.epochs=1", "--set",
                  "model.head.dropout=0.5", "--set", "train.device=\"cpu\""]
        straight, killed = tmp_path / "straight", tmp_path / "killed"
        res = _zelda("run", str(recipe), "--work-dir", str(straight), *common, env=env, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        shutil.rmtree(tmp_path / "cache")  # the killed run streams from the bucket again
        kill_mid_epoch([sys.executable, "-m", "zelda_core", "run", str(recipe), "--work-dir",
                        str(killed), *common], killed, tmp_path, timeout=180, env=env)
        ck = torch.load(killed / "checkpoints" / "last.pth", weights_only=True)
        assert ck["epoch"] == 0 and 0 < ck["iter_in_epoch"] < 10, "the kill must hit epoch 1 mid-way"
        resumed = _zelda("run", str(recipe), "--work-dir", str(killed), "--resume", *common,
                         env=env, cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
    ck = torch.load(killed / "checkpoints" / "last.pth", weights_only=True)
    a = torch.load(straight / "checkpoints" / "last.pth", weights_only=True)["model"]
    differ = [k for k in a if not torch.equal(a[k], ck["model"][k])]
    assert not differ, f"{len(differ)} tensors differ after resume: {differ[:4]}"
    assert [r for r in records(killed) if r["type"] == "epoch"] and \
        [(r["epoch"], r["iter"], r["loss"]) for r in records(killed) if r["type"] == "train"] == \
        [(r["epoch"], r["iter"], r["loss"]) for r in records(straight) if r["type"] == "train"]
    # credentials come from the environment and appear in no output
    secret = CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    for text in (res.stdout, res.stderr, resumed.stdout, resumed.stderr):
        assert secret not in text
    for f in [*straight.rglob("*"), *killed.rglob("*")]:
        if f.is_file() and f.suffix in (".log", ".jsonl", ".toml", ".json", ".txt"):
            assert secret not in f.read_text(errors="replace"), f


def test_data_check_fetches_and_probes_every_sample(sets, tmp_path):
    rel, shard = _damage(sets["shards"], tmp_path / "set", keep_manifest=True)
    recipe = shard_recipe(tmp_path / "r.toml", str(tmp_path / "set"), tmp_path / "w",
                          split_extra="retries = 0")
    res = _zelda("data", "check", str(recipe), "--json")
    report = json.loads(res.stdout)["splits"]
    assert res.returncode == 1, res.stderr
    name = f"{tmp_path / 'set'}/shards/{shard}[{rel}]"
    assert [m["file"] for m in report["train"]["missing"]] == [name], report["train"]
    assert "sha256" in report["train"]["missing"][0]["reason"]
    assert report["train"]["videos"] == 10 and not report["train"]["unreadable"]
    assert report["val"]["missing"] == [] and report["val"]["frames"] > 0
