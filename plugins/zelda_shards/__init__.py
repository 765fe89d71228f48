"""zelda bundled plugin: the ``shards`` dataset, streaming ``zelda data prepare --format
shards`` sets from a local folder, ``s3://``, ``gs://`` or ``https://`` (extra
``zelda-video[shards]``: fsspec, s3fs, aiohttp). Nothing heavy is imported here."""

from __future__ import annotations

from zelda_core.api import hookimpl


@hookimpl
def register_datasets(register) -> None:
    register("shards", f"{__name__}.dataset:ShardDataset",
             help="a split of a prepared shard set (shards.json) on disk or in object storage")
