"""A kinetics2_tiny run with trackers (the mlflow and wandb tests), and W&B's offline run
file read back through wandb's own record messages."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from deploy_helpers import KINETICS2, link_kinetics2_subset
from engine_util import small_recipe


def k2_tracked_run(tmp: Path, shared: Path, loggers: str, epochs: int = 2) -> Path:
    """Train the 4x32x32 recipe for ``epochs`` on 4+2 kinetics2_tiny videos (test split:
    the val videos) with the ``[loggers.*]`` tables ``loggers``; returns the work dir."""
    import pytest

    from zelda_core._cli.main import main

    src = shared / KINETICS2
    if not (src / "val").is_dir():
        pytest.skip(f"kinetics2_tiny not found at {src}")
    root = link_kinetics2_subset(src, tmp / "data", n_train=4, n_val=2)
    recipe = small_recipe(tmp / "r.toml", root, tmp / "work", epochs=epochs, test_split=True)
    recipe.write_text(recipe.read_text() + "\n" + loggers)
    assert main(["run", str(recipe)]) == 0
    return tmp / "work"


def wandb_records(run_file: Path) -> list[Any]:
    """The records of a ``.wandb`` file (a LevelDB-style log of wandb's protobuf
    ``Record`` messages: 32 KiB blocks, a 7-byte header per chunk), parsed by wandb's own
    message classes (``wandb.proto.wandb_internal_pb2``)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = run_file.read_bytes()
    ident, magic, _ = struct.unpack("<4sHB", data[:7])
    assert (ident, magic) == (b":W&B", 0xBEE1), f"{run_file} is no W&B run file"
    block, pos, pending, records = 32768, 7, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # the block's tail is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0 and length == 0:
            pos += left
            continue
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST: a whole record
            record = pb.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records
