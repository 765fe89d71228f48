"""zelda export: ONNX (run by onnxruntime), TorchScript and torch.export files that take
uint8 frames, carry their metadata and are verified against the PyTorch model."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from deploy_helpers import zelda
from extras import need

from zelda_core._cli.main import main

onnx = need("onnx", "export")
ort = need("onnxruntime", "export")

FORMATS = {"onnx": "m.onnx", "torchscript": "m.pt", "torch-export": "m.pt2"}


def _export(ckpt, out, fmt, *extra):
    from zelda_core._deploy.export import export_checkpoint

    opts = {"dynamic_batch": "--dynamic-batch" in extra}
    return export_checkpoint(ckpt, out, fmt=fmt, log=lambda _m: None, **opts)


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("dynamic", [False, True], ids=["batch1", "dynamic"])
def test_export_verifies_and_writes_metadata(tiny_run, tmp_path, fmt, dynamic):
    from zelda_core._deploy.export import load_runner
    from zelda_core._deploy.metadata import read_metadata

    ckpt = tiny_run["ckpt"]
    out = tmp_path / FORMATS[fmt]
    report = _export(ckpt, out, fmt, *(["--dynamic-batch"] if dynamic else []))
    v = report["verification"]
    assert v.clips == 2 and v.top1_agree == 2 and v.max_abs_diff <= 1e-4
    meta = read_metadata(out)
    assert meta["labels"] == ["dark", "bright"]
    assert meta["sampling"]["clip_len"] == 4 and meta["sampling"]["num_clips"] == 2
    assert meta["crop"]["crop_size"] == 32 and meta["resize"]["size"] == 40
    assert meta["mean"] == pytest.approx([123.675, 116.28, 103.53])
    assert meta["input"] == {"dtype": "uint8", "layout": "NVCTHW", "channels": "RGB",
                             "range": [0, 255], "shape": ["N" if dynamic else 1, 2, 3, 4, 32, 32]}
    assert meta["checkpoint_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert meta["torch_version"] == torch.__version__ and meta["zelda_version"]
    assert meta["verification"]["max_abs_diff"] <= 1e-4
    if fmt != "onnx":
        assert json.loads(out.with_name(out.name + ".json").read_text())["format"] == fmt
    # the file alone (no zelda model code) gives the model's probabilities on uint8 input
    run = load_runner(out, fmt)
    x = np.random.default_rng(0).integers(0, 256, (3 if dynamic else 1, 2, 3, 4, 32, 32), dtype=np.uint8)
    from zelda_core._engine.build import model_from_checkpoint

    model, _ = model_from_checkpoint(ckpt, device="cpu")
    ref = model.predict(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(run(x), ref, atol=1e-5)
    assert not list(tmp_path.glob(".*tmp*")), "a temporary file was left behind"


def test_onnx_metadata_is_readable_by_onnxruntime_and_one_view_is_ncthw(tiny_run, tmp_path):
    out = tmp_path / "single.onnx"
    assert main(["export", str(tiny_run["ckpt"]), "--format", "onnx", "--out", str(out),
                 "--views", "1", "--clip-len", "8", "--size", "24"]) == 0
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    assert json.loads(meta["labels"]) == ["dark", "bright"]
    assert sess.get_inputs()[0].shape == [1, 3, 8, 24, 24] and sess.get_inputs()[0].type == "tensor(uint8)"
    pipeline = json.loads(meta["pipeline"])
    assert pipeline[0]["clip_len"] == 8 and pipeline[0]["num_clips"] == 1
    assert json.loads(meta["crop"])["crop_size"] == 24 and json.loads(meta["resize"])["size"] == 30


def test_a_mismatch_is_an_error_and_leaves_no_file(tiny_run, tmp_path, capsys, monkeypatch):
    from zelda_core._deploy import export as export_mod

    out = tmp_path / "m.onnx"
    # an exported file that disagrees with PyTorch (a negative --tolerance is refused as an
    # option now): the failure path, end to end
    monkeypatch.setattr(export_mod, "verify", lambda *a, **k: export_mod.Verification(
        clips=1, max_abs_diff=0.5, top1_agree=0))
    assert main(["export", str(tiny_run["ckpt"]), "-f", "onnx", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "does not reproduce the PyTorch model" in err and "nothing was written" in err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_verify_counts_top1_disagreements():
    from zelda_core._deploy.export import verify

    class M(torch.nn.Module):
        def predict(self, x):
            return torch.tensor([[0.9, 0.1], [0.2, 0.8]])

    batches = [np.zeros((2, 1, 3, 1, 2, 2), np.uint8)]
    res = verify(M(), lambda x: np.array([[0.9, 0.1], [0.8, 0.2]], np.float32), batches, False)
    assert res.clips == 2 and res.top1_agree == 1 and res.max_abs_diff == pytest.approx(0.6)
    assert not res.ok(1e-4)


def test_export_errors_are_for_people(tiny_run, tmp_path):
    r = zelda("export", str(tiny_run["ckpt"]), "-f", "onnx", "-o", str(tmp_path / "m.onnx"),
              "--views", "0")
    assert r.returncode == 1 and "Traceback" not in r.stderr and "--views must be >= 1" in r.stderr
    r = zelda("export", str(tiny_run["ckpt"]), "-f", "onnx", "-o", str(tmp_path / "m.onnx"),
              "--verify-video", str(tmp_path / "missing.mp4"))
    assert r.returncode == 1 and "verification video not found" in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_kinetics_tiny_recipe_exports_verify_on_kinetics2_val(decoder_name, tmp_path, fmt, request):
    """The tutorial recipe's own shapes (5 clips x 16 frames x 224 x 224) on real val videos.
    Decoder-independent (the recipe decodes with pyav): the decord session skips it."""
    if decoder_name != "pyav":
        pytest.skip("export verification does not depend on the decoder backend")
    k2_recipe_run = request.getfixturevalue("k2_recipe_run")
    from zelda_core._deploy.export import export_checkpoint

    report = export_checkpoint(k2_recipe_run["ckpt"], tmp_path / FORMATS[fmt], fmt=fmt,
                               verify_clips=4, log=lambda _m: None)
    v = report["verification"]
    assert v.clips == 4 and v.top1_agree == 4 and v.max_abs_diff <= 1e-4, v.line()
    meta = report["metadata"]
    assert meta["labels"] == ["doing exercises", "typing"]  # label_map.txt found in data.root
    assert meta["input"]["shape"] == [1, 5, 3, 16, 224, 224]
