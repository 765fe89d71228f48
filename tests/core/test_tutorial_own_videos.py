"""docs/tutorial-own-videos.md, run as written: its recipe block is saved as my_recipe.toml and
each `zelda` command of its ``sh`` blocks runs in a subprocess, in order, on generated
class-folder clips (tiny sizes and one epoch appended as ``--set``), so the page cannot drift
from the tool."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from extras import need
from media import make_video

pytestmark = [pytest.mark.decoder_independent, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "tutorial-own-videos.md"

# the CPU-quick variant: 4 frames of 32x32, one epoch, no workers
QUICK = ["train.epochs=1", "train.device=cpu", "data.workers=0", "data.persistent_workers=false",
         *(f"data.{s}.pipeline.{k}" for s in ("train", "val", "test")
           for k in ("0.clip_len=4", "2.size=40", "3.crop_size=32"))]
TAKES_SET = {("recipe", "check"), ("data", "check"), ("run",), ("test",)}


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", DOC.read_text(), re.S | re.M)


def commands() -> list[list[str]]:
    cmds = []
    for block in blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip():
                cmds.append(shlex.split(line))
    return cmds


def clips(root: Path) -> None:
    for split, n in (("train", 3), ("val", 2), ("test", 2)):
        for cls, pattern in (("jumping", "bright"), ("waving", "dark")):
            for i in range(n):
                make_video(root / split / cls / f"{cls}{i}.mp4", frames=20, size=(36, 48),
                           pattern=pattern)


def test_every_command_of_the_tutorial_runs(tmp_path):
    need("onnx", "export")  # step 6 exports ONNX and step 7 predicts with onnxruntime
    need("onnxruntime", "export")
    for block in blocks("toml"):  # the recipes the page tells the reader to save
        if name := re.match(r"# (\S+\.toml)\n", block):
            (tmp_path / name[1]).write_text(block)
    (tmp_path / "recipes").mkdir()
    shutil.copy(REPO / "recipes" / "kinetics_tiny.toml", tmp_path / "recipes")
    clips(tmp_path / "my_clips")
    rows = sorted(p.relative_to(tmp_path / "my_clips" / "train")
                  for p in (tmp_path / "my_clips" / "train").rglob("*.mp4")
                  if not p.stem.endswith("2"))  # 4 of the 6 clips: data check sees the table
    (tmp_path / "my_clips" / "train.csv").write_text(
        "path,label\n" + "".join(f"{p},{p.parent}\n" for p in rows))
    make_video(tmp_path / "long_video.mp4", frames=100, size=(36, 48), pattern="bright")

    cmds = commands()
    assert [c[:2] for c in cmds] == [["zelda", "recipe"], ["zelda", "data"], ["zelda", "run"],
                                     ["zelda", "test"], ["zelda", "export"], ["zelda", "predict"],
                                     ["zelda", "data"]]
    zelda = [sys.executable, "-m", "zelda_core"]
    outputs = {}
    for cmd in cmds:
        args = list(cmd[1:])
        if tuple(args[:2]) in TAKES_SET or tuple(args[:1]) in TAKES_SET:
            args += [a for kv in QUICK for a in ("--set", kv)]
        r = subprocess.run(zelda + args, cwd=tmp_path, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, f"{shlex.join(cmd)}\n{r.stdout}\n{r.stderr}"
        outputs[shlex.join(cmd[1:3])] = r.stdout

    # what the page promises each step leaves behind
    work = tmp_path / "work_dirs" / "my_clips"
    assert (work / "checkpoints" / "best.pth").is_file()
    assert (work / "label_map.txt").read_text().split() == ["jumping", "waving"]
    dump = [json.loads(line) for line in (tmp_path / "test_predictions.jsonl").read_text().splitlines()]
    assert len(dump) == 4
    assert (tmp_path / "my_model.onnx").is_file()
    timeline = outputs["predict my_model.onnx"]
    assert "jumping" in timeline or "waving" in timeline, timeline
    # the CSV recipe's train split is the table (4 rows), not the folder (6 clips)
    csv_check = outputs["data check"]  # the last data check: the CSV recipe's
    assert "data.train: 4 videos" in csv_check, csv_check
