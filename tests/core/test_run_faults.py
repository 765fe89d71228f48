"""``zelda run`` / ``test`` against faults: missing files, shared or broken work dirs, bad
checkpoints. Every failure is one message naming the path, never a traceback."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from engine_util import make_dataset, small_recipe  # noqa: E402

from zelda_core._cli.main import main  # noqa: E402


def test_missing_file_under_skip_is_skipped_and_reported(tmp_path, capsys):
    root = make_dataset(tmp_path / "data")
    with open(root / "kinetics_tiny_train_video.txt", "a") as f:
        f.write("gone.mp4 1\n")
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "work", epochs=1)
    assert main(["run", str(recipe)]) == 1  # "raise": stops before it starts, says why
    err = capsys.readouterr().err
    assert "video not found" in err and 'data.on_error = "skip"' in err
    assert main(["run", str(recipe), "--set", 'data.on_error="skip"']) == 0
    out = capsys.readouterr().out
    assert "gone.mp4: no such file" in out
    summary = json.loads((tmp_path / "work" / "summary.json").read_text())
    assert [f.rsplit("/", 1)[-1] for f, _ in summary["skipped"]] == ["gone.mp4"]


# --- a trained run the tests below break in various ways ----------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    root = make_dataset(tmp / "data")
    recipe = small_recipe(tmp / "r.toml", root, tmp / "work", epochs=1)
    assert main(["run", str(recipe)]) == 0
    return tmp, recipe


def _no_traceback(capsys) -> str:
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err + cap.out
    return cap.err


def _ckpt(trained):
    tmp, _ = trained
    return torch.load(tmp / "work" / "checkpoints" / "last.pth", weights_only=True)


# --- item 10: one run per work dir ----------------------------------------------------------

def test_a_second_run_in_a_locked_work_dir_refuses(trained, tmp_path, capsys):
    import signal
    import subprocess
    import sys

    _, recipe = trained
    work = tmp_path / "work"
    work.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom zelda_core._engine.workdir import WorkDirLock\n"
         f"WorkDirLock({str(work)!r}, command='zelda run other.toml').acquire()\n"
         "print('locked', flush=True)\ntime.sleep(600)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["run", str(recipe), "--work-dir", str(work)]) == 1
        err = _no_traceback(capsys)
        assert f"the work dir {work} is in use by another run (pid {holder.pid} on " in err
        assert "zelda run other.toml" in err
        assert not (work / "checkpoints").exists() and not (work / "metrics.jsonl").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the holder died by kill -9: its lock is stale, the next run takes it over
    assert (work / ".zelda.lock").exists()
    assert main(["run", str(recipe), "--work-dir", str(work)]) == 0
    assert "took over the lock of a run that is gone" in capsys.readouterr().out
    assert not (work / ".zelda.lock").exists()


def test_a_lock_from_another_host_needs_force(trained, tmp_path, capsys):
    import json as _json

    _, recipe = trained
    work = tmp_path / "work"
    work.mkdir()
    (work / ".zelda.lock").write_text(_json.dumps({"pid": 1, "host": "elsewhere.example",
                                                   "started": "yesterday", "command": "zelda run x"}))
    assert main(["run", str(recipe), "--work-dir", str(work)]) == 1
    err = _no_traceback(capsys)
    assert "locked by a run on another host (pid 1 on elsewhere.example" in err and "--force-lock" in err
    assert main(["run", str(recipe), "--work-dir", str(work), "--force-lock"]) == 0


# --- item 9: an earlier, longer run's checkpoints -------------------------------------------

def test_fresh_run_over_an_earlier_longer_run(trained, tmp_path, capsys):
    import shutil

    tmp, recipe = trained
    work = tmp_path / "work"
    (work / "checkpoints").mkdir(parents=True)
    for n in (9, 10):
        shutil.copy(tmp / "work" / "checkpoints" / "last.pth", work / "checkpoints" / f"epoch_{n}.pth")
    (work / "metrics.jsonl").write_text('{"type": "train", "step": 90, "epoch": 10, "iter": 9}\n')
    assert main(["run", str(recipe), "--work-dir", str(work), "--set", "train.keep_checkpoints=1"]) == 0
    out = capsys.readouterr().out
    assert "earlier run's outputs; they were moved to" in out
    assert sorted(p.name for p in (work / "checkpoints").iterdir()) == ["best.pth", "epoch_1.pth", "last.pth"]
    (previous,) = (work / "previous").iterdir()
    assert sorted(p.name for p in (previous / "checkpoints").iterdir()) == ["epoch_10.pth", "epoch_9.pth"]
    records = [json.loads(x) for x in (work / "metrics.jsonl").read_text().splitlines()]
    assert all(r.get("epoch") in (1, None) for r in records)  # nothing of the earlier run



def test_init_from_a_checkpoint_of_the_work_dirs_earlier_run(trained, tmp_path, capsys):
    """--init-from naming the work dir's own best.pth: the earlier run's outputs are moved
    aside first, and the weights are read from where they went (not 'not found')."""
    import re
    import shutil

    import torch

    tmp, recipe = trained
    work = tmp_path / "work"
    shutil.copytree(tmp / "work" / "checkpoints", work / "checkpoints")
    (work / "metrics.jsonl").write_text('{"type": "train", "step": 1, "epoch": 1, "iter": 0}\n')
    best = work / "checkpoints" / "best.pth"
    before = best.read_bytes()
    init = {k: v for k, v in torch.load(best, weights_only=True)["model"].items()}
    assert main(["run", str(recipe), "--work-dir", str(work), "--init-from", str(best),
                 "--set", "train.epochs=1"]) == 0
    out = capsys.readouterr().out
    (previous,) = (work / "previous").iterdir()
    assert (previous / "checkpoints" / "best.pth").read_bytes() == before
    assert f"loading it from {previous / 'checkpoints' / 'best.pth'}" in out
    moved = re.escape(str(previous / "checkpoints" / "best.pth"))
    assert re.search(rf"init-from {moved}: loaded (\d+) of \1 tensors", out), out
    assert set(init) == set(torch.load(work / "checkpoints" / "last.pth", weights_only=True)["model"])


@pytest.mark.parametrize("name", ["metrics.jsonl", "train.log"])
def test_a_log_name_that_is_a_symlink_is_refused_not_appended_through(trained, tmp_path, capsys, name):
    """The run's logs are appended to: a symlink planted at their name would write into
    the file it points at. It is refused in one line and the target is left as it was."""
    _, recipe = trained
    work = tmp_path / "work"
    work.mkdir()
    victim = tmp_path / "notes.txt"
    victim.write_text("mine\n")
    (work / name).symlink_to(victim)
    assert main(["run", str(recipe), "--work-dir", str(work)]) == 1
    err = _no_traceback(capsys)
    assert f"{work / name} is a symbolic link" in err, err
    assert victim.read_text() == "mine\n"

def test_pruning_ignores_higher_epochs_of_an_abandoned_run(tmp_path):
    from zelda_core._engine import checkpoint as ckpt_io

    for n in (1, 2, 9, 10):
        ckpt_io.save_checkpoint({"epoch": n}, tmp_path / f"epoch_{n}.pth")
    deleted = ckpt_io.prune(tmp_path, keep=1, upto=2)
    assert [p.name for p in deleted] == ["epoch_1.pth"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_10.pth", "epoch_2.pth", "epoch_9.pth"]


# --- item 13: OS errors are one line naming the path ---------------------------------------

@pytest.fixture
def readonly(tmp_path):
    """A function making a folder read-only: a read-only bind mount as root (permission
    bits do not stop root), chmod otherwise."""
    import os
    import subprocess

    mounted = []

    def make(path):
        if os.geteuid() != 0:
            path.chmod(0o555)
            return path
        for cmd in (["mount", "--bind", str(path), str(path)],
                    ["mount", "-o", "remount,bind,ro", str(path), str(path)]):
            if subprocess.run(cmd, capture_output=True).returncode:
                pytest.skip("cannot make a read-only bind mount here")
            mounted.append(path) if cmd[1] == "--bind" else None
        return path

    yield make
    for path in mounted:
        subprocess.run(["umount", str(path)], check=False)
    for p in tmp_path.rglob("*"):
        if p.is_dir():
            p.chmod(0o755)


def test_read_only_work_dir_for_run_resume_and_test(trained, tmp_path, readonly, capsys, monkeypatch):
    import shutil

    tmp, recipe = trained
    work = tmp_path / "work"
    shutil.copytree(tmp / "work", work)
    readonly(work)
    assert main(["run", str(recipe), "--work-dir", str(work)]) == 1
    err = _no_traceback(capsys)
    assert f"cannot write into the work dir {work}: " in err and "pass a writable --work-dir" in err
    assert main(["run", str(recipe), "--work-dir", str(work), "--resume"]) == 1
    assert f"cannot write into the work dir {work}: " in _no_traceback(capsys)
    import zelda_core._engine.evaluate as ev

    def never(*a, **kw):
        raise AssertionError("evaluated before checking the output folder")

    monkeypatch.setattr(ev, "evaluate", never)
    assert main(["test", str(recipe), "-c", str(work / "checkpoints" / "last.pth"), "--split", "val"]) == 1
    err = _no_traceback(capsys)
    assert f"cannot write into the metrics folder {work}: " in err and "--out" in err


def test_work_dir_that_is_a_file(trained, tmp_path, capsys):
    _, recipe = trained
    (tmp_path / "afile").write_text("x")
    assert main(["run", str(recipe), "--work-dir", str(tmp_path / "afile")]) == 1
    assert f"the work dir {tmp_path / 'afile'} is a file, not a folder" in _no_traceback(capsys)
    assert main(["run", str(recipe), "--work-dir", str(tmp_path / "afile" / "sub")]) == 1
    assert f"{tmp_path / 'afile'}" in _no_traceback(capsys)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs (root only): room for a run's logs, not for its 3 MB checkpoint."""
    import os
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(disk)],
                                           capture_output=True).returncode:
        pytest.skip("needs root to mount a small tmpfs")
    yield disk
    subprocess.run(["umount", str(disk)], check=False)


def test_full_disk_at_start_and_during_a_checkpoint_write(trained, tiny_disk, capsys):
    _, recipe = trained
    work = tiny_disk / "work"
    assert main(["run", str(recipe), "--work-dir", str(work)]) == 1
    err = _no_traceback(capsys)
    assert f"cannot write the checkpoint {work / 'checkpoints' / 'epoch_1.pth'}: No space left on device" in err
    assert "free space on that disk" in err
    assert not [p for p in (work / "checkpoints").iterdir() if ".tmp" in p.name]  # no partial file
    try:  # fill what is left (the failed run may have left nothing to fill)
        with open(tiny_disk / "filler", "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    except OSError:
        pass
    assert main(["run", str(recipe), "--work-dir", str(tiny_disk / "work2")]) == 1
    err = _no_traceback(capsys)
    assert f"cannot write into the work dir {tiny_disk / 'work2'}: No space left on device" in err


# --- item 15: broken checkpoints and mismatches -----------------------------------------------

@pytest.mark.parametrize("change", ["epoch_x", "empty_optimizer", "empty_rng", "model_string"])
def test_resume_from_a_broken_checkpoint(trained, tmp_path, capsys, change):
    _, recipe = trained
    ck = _ckpt(trained)
    if change == "epoch_x":
        ck["epoch"] = "x"
    elif change == "empty_optimizer":
        ck["optimizer"] = {}
    elif change == "empty_rng":
        ck["rng"] = {}
    else:
        ck["model"] = "weights"
    path = tmp_path / "broken.pth"
    torch.save(ck, path)
    assert main(["run", str(recipe), "--work-dir", str(tmp_path / "w"), "--resume", str(path)]) == 1
    err = _no_traceback(capsys)
    assert f"{path} cannot be resumed from: " in err and "--init-from" in err


def test_init_from_weights_that_match_nothing(trained, tmp_path, capsys):
    _, recipe = trained
    path = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.ones(3, 3)}, path)
    assert main(["run", str(recipe), "--work-dir", str(tmp_path / "w"), "--init-from", str(path)]) == 1
    err = _no_traceback(capsys)
    assert "none of its 1 tensors fits this model" in err and "--force-init" in err
    assert main(["run", str(recipe), "--work-dir", str(tmp_path / "w"), "--init-from", str(path),
                 "--force-init"]) == 0


def test_test_refuses_a_checkpoint_of_other_classes(trained, tmp_path, capsys):
    _, recipe = trained
    ck = _ckpt(trained)
    head = [k for k, v in ck["model"].items() if v.shape[:1] == (2,) and v.dim() >= 1 and "head" in k]
    assert head
    for k in head:
        v = ck["model"][k]
        ck["model"][k] = torch.cat([v, v, v[:1]])[:5]
    ck["classes"] = ["a", "b", "c", "d", "e"]
    path = tmp_path / "five.pth"
    torch.save(ck, path)
    assert main(["test", str(recipe), "-c", str(path), "--split", "val", "--out", str(tmp_path / "m.json")]) == 1
    err = _no_traceback(capsys)
    assert "was trained on 5 classes, data.val has 2" in err and "label 0: checkpoint 'a', data 'dark'" in err
    assert not (tmp_path / "m.json").exists()


def test_nan_weights_are_an_error(trained, tmp_path, capsys):
    from fault_fixtures import make_noise_video

    _, recipe = trained
    ck = _ckpt(trained)
    name = next(k for k, v in ck["model"].items() if v.is_floating_point() and "head" in k)
    ck["model"][name] = torch.full_like(ck["model"][name], float("nan"))
    path = tmp_path / "nan.pth"
    torch.save(ck, path)
    assert main(["test", str(recipe), "-c", str(path), "--split", "val", "--out", str(tmp_path / "m.json")]) == 1
    assert f"{path} has NaN or infinite weights ({name})" in _no_traceback(capsys)
    video = make_noise_video(tmp_path / "v.mp4")
    assert main(["predict", str(path), str(video)]) == 1
    assert "NaN or infinite weights" in _no_traceback(capsys)


# --- items 16 and 17: resume leftovers ---------------------------------------------------------

def test_resume_with_nothing_to_resume_creates_nothing(trained, tmp_path, capsys):
    _, recipe = trained
    work = tmp_path / "never"
    assert main(["run", str(recipe), "--work-dir", str(work), "--resume"]) == 1
    assert "no checkpoint to resume from" in _no_traceback(capsys)
    assert not work.exists()


def test_partial_files_of_a_killed_run_are_removed(trained, tmp_path, capsys):
    import shutil

    tmp, recipe = trained
    work = tmp_path / "work"
    shutil.copytree(tmp / "work", work)
    stale = work / "checkpoints" / ".last.pth.tmp-4194000"  # no such pid (above pid_max's default)
    stale.write_bytes(b"PK\x03\x04 half a checkpoint")
    assert main(["run", str(recipe), "--work-dir", str(work), "--resume", "--set", "train.epochs=2"]) == 0
    assert "removed 1 partial file(s) a killed run left: .last.pth.tmp-4194000" in capsys.readouterr().out
    assert not stale.exists()


def test_mid_epoch_resume_with_another_batch_size_maps_by_samples(trained, tmp_path, capsys):
    _, recipe = trained
    ck = _ckpt(trained)
    ck.update(epoch=0, iter_in_epoch=1, samples_per_step=2)  # 1 step of 2 samples done
    path = tmp_path / "mid.pth"
    torch.save(ck, path)
    work = tmp_path / "w"
    assert main(["run", str(recipe), "--work-dir", str(work), "--resume", str(path),
                 "--set", "data.batch_size=1"]) == 0
    out = capsys.readouterr().out
    assert "resuming at sample 2 of the epoch (step 3)" in out and "loss 0.0000" not in out
    records = [json.loads(x) for x in (work / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["iter"]) for r in records if r["type"] == "train"] == [(1, 3), (1, 4)]


# --- item 11: evaluation never substitutes a video ---------------------------------------------

def test_evaluation_skips_unreadable_videos_without_replacing_them(tmp_path, capsys):
    from media import make_corrupt

    from zelda_core._data import build_dataloader, build_dataset

    root = make_dataset(tmp_path / "data", n_train=2, n_val=3)
    lines = (root / "kinetics_tiny_val_video.txt").read_text()
    for i in range(4):
        make_corrupt(root / "val" / f"bad{i}.mp4")
        lines += f"bad{i}.mp4 {i % 2}\n"
    (root / "kinetics_tiny_val_video.txt").write_text(lines)
    recipe = small_recipe(tmp_path / "r.toml", root, tmp_path / "work", epochs=1)
    from zelda_core._recipe import load_recipe

    rec = load_recipe(recipe, ['data.on_error="skip"'])
    seen = []
    for workers in (0, 2):
        rec.data["data"]["workers"] = workers
        ds = build_dataset(rec, "val")
        for batch in build_dataloader(rec.data, "val", ds, shuffle=False):
            seen.append(([m["filename"].rsplit("/", 1)[-1] for m in batch["meta"]],
                         sorted(f.rsplit("/", 1)[-1] for f, _ in batch["skipped"])))
    names = [n for batch, _ in seen for n in batch]
    assert sorted(names) == sorted(["val0.mp4", "val1.mp4", "val2.mp4"] * 2)  # each once per pass
    assert sorted(n for _, s in seen for n in s) == sorted([f"bad{i}.mp4" for i in range(4)] * 2)
    # through the CLI: 3 readable videos scored, 4 reported
    assert main(["run", str(recipe), "--set", 'data.on_error="skip"']) == 0
    capsys.readouterr()
    out_file = tmp_path / "m.json"
    assert main(["test", str(recipe), "--set", 'data.on_error="skip"', "--split", "val",
                 "-c", str(tmp_path / "work" / "checkpoints" / "last.pth"), "--out", str(out_file)]) == 0
    out = capsys.readouterr().out
    assert "val: 3 videos" in out and "4 video(s) skipped as unreadable" in out
    report = json.loads(out_file.read_text())
    assert report["metrics"]["samples"] == 3.0
    assert sorted(f.rsplit("/", 1)[-1] for f, _ in report["skipped"]) == [f"bad{i}.mp4" for i in range(4)]


@pytest.mark.parametrize("damage", ["half", "empty", "one_byte", "text"])
def test_a_torn_or_foreign_checkpoint_is_refused_with_a_reason(trained, tmp_path, damage):
    from zelda_core._engine.checkpoint import load_checkpoint
    from zelda_core._engine.errors import CheckpointError

    tmp, _ = trained
    good = (tmp / "work" / "checkpoints" / "last.pth").read_bytes()
    path = tmp_path / "c.pth"
    path.write_bytes({"half": good[: len(good) // 2], "empty": b"", "one_byte": b"x",
                      "text": b"not a checkpoint\n" * 4}[damage])
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert msg.startswith(f"cannot read checkpoint {path}: ") and "partial download" in msg
    reason = msg.split(": ", 1)[1].split(". zelda checkpoints")[0].strip()
    assert len(reason) > 3 and not reason.endswith(":"), msg  # a reason, not "EOFError: "
