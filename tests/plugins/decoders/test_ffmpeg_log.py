"""FFmpeg's own log lines (``[h264 @ 0x...] Invalid NAL unit size``) stay off stderr
unless zelda runs with --debug (ZELDA_DEBUG=1), with the backend under test. Checked in
a subprocess: decord's FFmpeg writes to the process's stderr directly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from decoder_fixtures import make_video

SCRIPT = """
import sys
from zelda_core.api import DecodeError, open_video
try:
    with open_video(sys.argv[1], decoder=sys.argv[2]) as r:
        r.get_frames(list(range(r.num_frames)))
except DecodeError as e:
    print("DecodeError", e)
"""


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An H.264 MP4 with two stretches of its data overwritten (header and index intact)."""
    d = tmp_path_factory.mktemp("noise")
    src = make_video(d / "src.mp4", frames=40)
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(0)
    for off in (int(len(data) * 0.5), int(len(data) * 0.7)):
        data[off:off + 300] = rng.integers(0, 256, 300, dtype=np.uint8).tobytes()
    out = d / "damaged.mp4"
    out.write_bytes(bytes(data))
    return out


def _run(path: Path, decoder: str, debug: bool, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ZELDA_DEBUG": "1" if debug else "0", "ZELDA_CACHE_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "-c", SCRIPT, str(path), decoder], env=env,
                          capture_output=True, text=True, timeout=120)


def test_ffmpeg_lines_only_with_debug(damaged: Path, decoder_name: str, tmp_path: Path) -> None:
    quiet = _run(damaged, decoder_name, False, tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "DecodeError" in quiet.stdout and str(damaged) in quiet.stdout
    assert quiet.stderr == "", quiet.stderr
    loud = _run(damaged, decoder_name, True, tmp_path)
    assert "NAL" in loud.stderr  # FFmpeg's reason, for whoever debugs the file
