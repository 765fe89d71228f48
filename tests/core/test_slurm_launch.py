"""``zelda run --slurm`` without a cluster: the ``[launch]`` table and the flags become the
job's sbatch options (read from the script submitit hands to ``sbatch``, here a stand-in
that keeps it), and every mistake is one clear line before anything is submitted."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from engine_util import make_dataset, small_recipe
from extras import need

need("submitit", "slurm")

pytestmark = pytest.mark.decoder_independent

ZELDA = [sys.executable, "-m", "zelda_core"]


def _fake_slurm(bin_dir: Path, keep: Path) -> dict[str, str]:
    """``sbatch`` that keeps the script it was given and answers like SLURM; ``srun`` exists."""
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\nfor a; do last="$a"; done\ncp "$last" {keep}\n'
                                    'echo "Submitted batch job 4242"\n')
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    for f in ("sbatch", "srun"):
        (bin_dir / f).chmod((bin_dir / f).stat().st_mode | stat.S_IEXEC)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture
def recipe(tmp_path) -> Path:
    root = make_dataset(tmp_path / "data", n_train=2, n_val=2)
    return small_recipe(tmp_path / "r.toml", root, tmp_path / "work", epochs=1, extra="""
[launch]
nodes = 3
gpus_per_node = 4
partition = "gpu"
time = "1-02:30:00"
account = "vision"
setup = ["module load cuda"]
sbatch = { exclusive = true }
""")


def test_launch_table_and_flags_become_the_jobs_sbatch_options(tmp_path, recipe):
    script = tmp_path / "submitted.sh"
    env = _fake_slurm(tmp_path / "bin", script)
    out = subprocess.run([*ZELDA, "run", str(recipe), "--slurm", "--partition", "big", "--time", "90",
                          "--set", "data.batch_size=1"],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "submitted SLURM job 4242: 3 node(s) x 4 GPUs, 4 process(es) per node" in out.stdout
    assert f"work dir: {tmp_path / 'work'}" in out.stdout
    text = script.read_text()
    for line in ("--nodes=3", "--ntasks-per-node=4", "--gpus-per-node=4", "--partition=big",
                 "--time=90", "--account=vision", "--requeue", "--exclusive", "--signal=USR2@120"):
        assert f"#SBATCH {line}\n" in text, f"{line} missing from:\n{text}"
    assert "module load cuda" in text
    # the job runs the same command line, without the SLURM flags, the work dir absolute
    from submitit.helpers import DelayedSubmission

    job = DelayedSubmission.load(tmp_path / "work" / "slurm" / "4242_submitted.pkl").function
    assert job.argv == ["run", str(recipe), "--set", "data.batch_size=1", "--work-dir",
                        str(tmp_path / "work")]
    assert job.cwd == str(tmp_path)
    # the recipe's time when no flag overrides it: 1 day 2 h 30 min
    subprocess.run([*ZELDA, "run", str(recipe), "--slurm"], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    assert "#SBATCH --time=1590\n" in script.read_text()


def test_recipe_check_names_each_bad_launch_key(tmp_path, capsys):
    from zelda_core._cli.main import main

    root = make_dataset(tmp_path / "data", n_train=2, n_val=2)
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "work", extra="""
[launch]
nodes = 0
time = "1:75:00"
gpu_per_node = 8
partition = 3
""")
    assert main(["recipe", "check", str(recipe)]) == 1
    err = capsys.readouterr().err
    for key, words in (("launch.nodes", "must be >= 1, got 0"),
                       ("launch.time", 'expects minutes (an integer > 0) or "HH:MM:SS"'),
                       ("launch.gpu_per_node", "gpus_per_node"), ("launch.partition", "str")):
        assert any(f"key '{key}'" in line and words in line for line in err.splitlines()), (key, err)
    assert "Traceback" not in err


@pytest.mark.parametrize("args, words", [
    (["--nodes", "2"], "--nodes only apply with --slurm"),
    (["--slurm", "--nproc", "2"], "--slurm and --nproc exclude each other"),
    (["--slurm", "--time", "0"], "--time: expects minutes"),
    (["--slurm"], "'sbatch' is not on PATH"),
])
def test_run_slurm_mistakes_are_one_line(tmp_path, monkeypatch, capsys, args, words):
    from zelda_core._cli.main import main

    root = make_dataset(tmp_path / "data", n_train=2, n_val=2)
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "work")
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))  # no sbatch on it
    assert main(["run", str(recipe), *args]) == 1
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err, err
    assert not (tmp_path / "work").exists()  # nothing submitted, nothing made
