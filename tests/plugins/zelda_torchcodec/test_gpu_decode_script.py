"""benchmarks/gpu_decode.sh (run by hand on a CUDA machine) parses, and what it calls exists."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from zelda_core._cli.main import main

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks/gpu_decode.sh"


def test_the_script_parses() -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    out = subprocess.run([bash, "-n", str(SCRIPT)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_it_runs_the_three_ways_with_options_that_exist(capsys: pytest.CaptureFixture[str]) -> None:
    text = SCRIPT.read_text()
    assert re.search(r"run originals .*--decoder pyav", text)
    assert re.search(r"run prepared .*--decoder pyav", text)
    assert re.search(r"run nvdec .*--decoder torchcodec .*device='\"cuda\"'.*data\.workers=0", text)
    with pytest.raises(SystemExit):
        main(["bench", "train", "--help"])
    help_text = capsys.readouterr().out
    for flag in re.findall(r"zelda bench train \$R ([^\\]*)", text)[0].split():
        if flag.startswith("--"):
            assert flag in help_text, flag
    assert "--decoder" in help_text
    source = (Path(__file__).resolve().parents[3] / "zelda_core/_engine/bench_train.py").read_text()
    for key in re.findall(r"d\['(\w+)'\]", text):
        assert f'"{key}"' in source, key
