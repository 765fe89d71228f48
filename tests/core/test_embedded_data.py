"""The README's first command on a machine without network: kinetics400_tiny cannot be
downloaded, so the run trains on the clip set embedded in the package and says so in one
line; ZELDA_EMBEDDED_DATA=0 makes it an error. Neither leaves an empty data/ or work_dirs/.

The download is blocked by pointing it at a refused port on 127.0.0.1 (ZELDA_KINETICS_TINY_URL),
in a real ``zelda run`` subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from zelda_core._engine.download import EMBEDDED

REPO = Path(__file__).resolve().parents[2]
REFUSED = "http://127.0.0.1:9/kinetics400_tiny.zip"  # the discard port: nothing listens

SMALL = """extends = "{base}"
work_dir = "work_dirs/kinetics_tiny"

[data]
workers = 0
persistent_workers = false

[data.train]
pipeline = [
    {{ type = "segment_sample", clip_len = 4, num_clips = 1 }},
    {{ type = "decode" }},
    {{ type = "resize", size = 32 }},
    {{ type = "center_crop", crop_size = 32 }},
    {{ type = "format_shape" }},
    {{ type = "pack" }},
]

[data.val]
pipeline = [
    {{ type = "segment_sample", clip_len = 4, num_clips = 1, test_mode = true }},
    {{ type = "decode" }},
    {{ type = "resize", size = 32 }},
    {{ type = "center_crop", crop_size = 32 }},
    {{ type = "format_shape" }},
    {{ type = "pack" }},
]

[train]
epochs = 1
"""


def _run_offline(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """``zelda run`` of the tutorial recipe (shrunk to seconds) in a fresh folder whose
    data/kinetics400_tiny does not exist, with the download refused."""
    recipe = tmp_path / "recipes" / "kinetics_tiny.toml"
    recipe.parent.mkdir()
    recipe.write_text(SMALL.format(base=REPO / "recipes" / "kinetics_tiny.toml"))
    base_env = {k: v for k, v in os.environ.items() if k != "ZELDA_EMBEDDED_DATA"}
    return subprocess.run(
        [sys.executable, "-m", "zelda_core", "run", "recipes/kinetics_tiny.toml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
        env={**base_env, "ZELDA_KINETICS_TINY_URL": REFUSED, "ZELDA_PLOTS": "0", **env})


def test_the_embedded_set_is_real_kinetics_in_kinetics400_tiny_layout() -> None:
    import av

    for split, count in (("train", 30), ("val", 10)):
        lines = (EMBEDDED / f"kinetics_tiny_{split}_video.txt").read_text().split()
        names, labels = lines[::2], [int(x) for x in lines[1::2]]
        assert len(names) == count and sorted(set(labels)) == [0, 1]
        for name in names:
            with av.open(str(EMBEDDED / split / name)) as c:
                assert sum(1 for _ in c.decode(video=0)) == 40
    assert (EMBEDDED / "label_map.txt").read_text().split("\n")[:2] == ["doing exercises", "typing"]
    size = sum(p.stat().st_size for p in EMBEDDED.rglob("*") if p.is_file())
    assert size < 3e6


@pytest.mark.slow
def test_no_network_trains_on_the_embedded_set_and_says_so(tmp_path: Path) -> None:
    proc = _run_offline(tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    said = [x for x in out.splitlines() if "could not be downloaded" in x]
    assert len(said) == 1, out
    assert "embedded" in said[0] and "ZELDA_EMBEDDED_DATA=0" in said[0]
    assert "Traceback" not in out
    work = tmp_path / "work_dirs" / "kinetics_tiny"
    resolved = (work / "resolved.toml").read_text()
    assert f'root = "{EMBEDDED}"' in resolved
    summary = json.loads((work / "summary.json").read_text())
    assert "top1" in json.dumps(summary["val"])
    assert "train: 30 videos" in out and "val: 10 videos" in out
    assert (work / "checkpoints" / "best.pth").is_file()
    assert not (tmp_path / "data").exists()  # the failed download left no empty folder


@pytest.mark.slow
def test_zelda_embedded_data_0_makes_a_failed_download_an_error(tmp_path: Path) -> None:
    proc = _run_offline(tmp_path, ZELDA_EMBEDDED_DATA="0")
    assert proc.returncode == 1, proc.stderr
    assert "could not be downloaded" in proc.stderr and "Traceback" not in proc.stderr
    assert "embedded" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipes"]  # no data/, no work_dirs/


def test_the_wheel_carries_the_embedded_set(tmp_path: Path) -> None:
    """The wheel as pip builds it (pyproject's build backend, in its own environment), from
    a copy of the tree: an in-tree build would leave build/ in the checkout."""
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".nox", "build", "*.egg-info", "data", "work_dirs", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "-w", str(tmp_path), str(src)], check=True, capture_output=True, timeout=600)
    (wheel,) = tmp_path.glob("zelda_video-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    want = {f"zelda_core/_embedded/kinetics400_tiny/{p.relative_to(EMBEDDED)}"
            for p in EMBEDDED.rglob("*") if p.is_file()}
    assert len(want) == 43 and want <= names, sorted(want - names)[:5]
