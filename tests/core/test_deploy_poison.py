"""Damaged, tampered or poisoned models and nonsense options: one line naming the file or
the option, never a traceback, never a quiet "nan%" or a wrong label.

- ONNX files: truncated, junk, an invalid graph, metadata that contradicts the graph,
  missing or mistyped metadata keys, labels that do not match the outputs, NaN weights;
- checkpoints with NaN weights given to ``run --resume`` / ``--init-from``; checkpoints
  that do not fit their model (the key and shape are named);
- predict's and export's numeric options.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from zelda_core._cli.main import main

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


def _one_line(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [x for x in err.splitlines() if x.startswith("zelda: error")]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory) -> Path:
    from zelda_core._deploy.export import export_checkpoint

    out = tmp_path_factory.mktemp("poison") / "m.onnx"
    export_checkpoint(tiny_run["ckpt"], out, fmt="onnx", verify_clips=2, log=lambda _m: None)
    return out


def _props(model) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def _set_props(model, props: dict[str, str]) -> None:
    del model.metadata_props[:]
    for k, v in props.items():
        model.metadata_props.add(key=k, value=v)


def _tamper(src: Path, dst: Path, how: str) -> None:
    if how == "truncated":
        data = src.read_bytes()
        dst.write_bytes(data[: len(data) // 2])
        return
    if how == "junk":
        dst.write_bytes(b"this is not an onnx model\n" * 40)
        return
    model = onnx.load(str(src))
    props = _props(model)
    if how == "invalid_graph":
        model.graph.node[0].op_type = "NoSuchOperator"
    elif how == "nan_weights":
        init = max(model.graph.initializer, key=lambda i: len(i.raw_data) + len(i.float_data))
        arr = onnx.numpy_helper.to_array(init).copy()
        arr.flat[0] = float("nan")
        init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))
    elif how == "layout_contradicts_graph":
        inp = json.loads(props["input"])
        inp["layout"] = "NCTHW" if inp["layout"] == "NVCTHW" else "NVCTHW"
        props["input"] = json.dumps(inp)
    elif how == "batch_contradicts_graph":  # chunks of 2 for a graph of batch 1
        inp = json.loads(props["input"])
        inp["shape"][0] = 2
        props["input"] = json.dumps(inp)
    elif how == "one_label_two_outputs":
        props["labels"] = json.dumps(["only"])
    elif how == "labels_not_json":
        props["labels"] = "dark,bright"
    elif how == "missing_input":
        del props["input"]
    elif how == "input_not_a_table":
        props["input"] = "5"
    elif how == "seed_not_a_number":
        props["seed"] = json.dumps("x")
    elif how == "pipeline_not_a_list":
        props["pipeline"] = json.dumps({"type": "decode"})
    _set_props(model, props)
    onnx.save(model, str(dst))


DAMAGE = ["truncated", "junk", "invalid_graph", "nan_weights", "layout_contradicts_graph",
          "batch_contradicts_graph",
          "one_label_two_outputs", "labels_not_json", "missing_input", "input_not_a_table",
          "seed_not_a_number", "pipeline_not_a_list"]


@pytest.mark.parametrize("how", DAMAGE)
def test_predict_refuses_a_damaged_onnx_file(exported, tiny_run, tmp_path, capsys, how) -> None:
    bad = tmp_path / f"{how}.onnx"
    _tamper(exported, bad, how)
    video = sorted((tiny_run["root"] / "val").glob("*.mp4"))[0]
    rc = main(["predict", str(bad), str(video), "--workers", "0"])
    out = capsys.readouterr()
    assert rc == 1, out.out
    assert "nan" not in out.out.lower()
    assert "Traceback" not in out.err
    lines = [x for x in out.err.splitlines() if x.startswith("zelda: error")]
    assert len(lines) == 1 and str(bad) in lines[0], out.err


def test_the_untampered_file_still_predicts(exported, tiny_run, capsys) -> None:
    video = sorted((tiny_run["root"] / "val").glob("*.mp4"))[0]
    assert main(["predict", str(exported), str(video), "--workers", "0"]) == 0
    assert "dark" in capsys.readouterr().out


def _nan_checkpoint(src: Path, dst: Path) -> None:
    ck = torch.load(src, weights_only=True)
    name = next(k for k, v in ck["model"].items() if v.is_floating_point())
    ck["model"][name] = torch.full_like(ck["model"][name], float("nan"))
    torch.save(ck, dst)


@pytest.mark.parametrize("option", ["--resume", "--init-from"])
def test_run_refuses_nan_weights_by_name(tiny_run, tmp_path, capsys, option) -> None:
    nan = tmp_path / "diverged.pth"
    _nan_checkpoint(tiny_run["ckpt"], nan)
    rc = main(["run", str(tiny_run["recipe"]), "--work-dir", str(tmp_path / "w"), option, str(nan)])
    assert rc == 1
    line = _one_line(capsys, str(nan), "NaN")
    assert "learning rate" not in line.split("NaN", 1)[0]


def test_a_checkpoint_that_does_not_fit_names_key_and_shape(tiny_run, tmp_path, capsys) -> None:
    ck = torch.load(tiny_run["ckpt"], weights_only=True)
    name = next(k for k, v in ck["model"].items() if v.dim() == 2)  # the head's weight
    ck["model"][name] = torch.zeros(7, ck["model"][name].shape[1])
    bad = tmp_path / "other_head.pth"
    torch.save(ck, bad)
    video = sorted((tiny_run["root"] / "val").glob("*.mp4"))[0]
    assert main(["predict", str(bad), str(video), "--workers", "0"]) == 1
    line = _one_line(capsys, str(bad), name)
    assert "7" in line.split(name, 1)[1]


@pytest.mark.parametrize("args, option", [
    (["--window", "nan"], "--window"), (["--window", "inf"], "--window"),
    (["--window", "2", "--stride", "nan"], "--stride"), (["--window", "2", "--stride", "inf"], "--stride"),
    (["--batch-size", "0"], "--batch-size"), (["--batch-size", "-1"], "--batch-size"),
    (["--workers", "-1"], "--workers"),
])
def test_predict_options(tiny_run, capsys, args, option) -> None:
    video = sorted((tiny_run["root"] / "val").glob("*.mp4"))[0]
    assert main(["predict", str(tiny_run["ckpt"]), str(video), *args]) == 1
    _one_line(capsys, option)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_predict_device_error_names_its_own_option(tiny_run, capsys) -> None:
    video = sorted((tiny_run["root"] / "val").glob("*.mp4"))[0]
    assert main(["predict", str(tiny_run["ckpt"]), str(video), "--device", "cuda:0"]) == 1
    line = _one_line(capsys, "--device")
    assert "train.device" not in line


@pytest.mark.parametrize("args, option", [
    (["--tolerance", "nan"], "--tolerance"), (["--tolerance", "-1"], "--tolerance"),
    (["--clip-len", "0"], "--clip-len"), (["--size", "0"], "--size"),
    (["--verify-clips", "0"], "--verify-clips"), (["--verify-clips", "-3"], "--verify-clips"),
])
def test_export_options(tiny_run, tmp_path, capsys, args, option) -> None:
    out = tmp_path / "m.pt"
    assert main(["export", str(tiny_run["ckpt"]), "-f", "torchscript", "-o", str(out), *args]) == 1
    _one_line(capsys, option)
    assert not out.exists()
