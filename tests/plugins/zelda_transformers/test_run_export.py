"""End to end on ../shared/data/kinetics2_tiny with a tiny random VideoMAE: ``zelda run``
trains 2 epochs and the loss falls; ``zelda export --format hf`` writes a folder that
``transformers`` loads with the same logits (1e-5) and ``zelda predict`` takes; ONNX and
TorchScript exports pass their verification (ONNX on the 15 val videos, 1e-4); offline
with an empty cache, a Hub checkpoint is one paragraph naming the files to fetch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from extras import need
from hf_tiny import tiny_videomae_recipe

need("transformers", "transformers")

import torch  # noqa: E402

from zelda_core._cli.main import main  # noqa: E402

pytestmark = pytest.mark.decoder_independent
REPO = Path(__file__).resolve().parents[3]
ZELDA = [sys.executable, "-m", "zelda_core"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shared_dir):
    tmp = tmp_path_factory.mktemp("hf_run")
    root = shared_dir / "data" / "kinetics2_tiny"
    recipe = tiny_videomae_recipe(tmp / "tiny.toml", root, tmp / "run")
    proc = subprocess.run([*ZELDA, "run", str(recipe)], capture_output=True, text=True,
                          env={**os.environ, "ZELDA_PLOTS": "0"}, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"root": root, "run": tmp / "run", "tmp": tmp, "stdout": proc.stdout}


def test_tiny_videomae_trains_two_epochs_and_its_loss_falls(trained):
    rows = [json.loads(line) for line in (trained["run"] / "metrics.jsonl").read_text().splitlines()]
    epochs = [r["loss"] for r in rows if r["type"] == "epoch"]
    assert len(epochs) == 2 and epochs[1] < epochs[0], epochs
    ckpt = torch.load(trained["run"] / "checkpoints" / "last.pth", weights_only=False, map_location="cpu")
    assert ckpt["classes"] == ["doing exercises", "typing"]
    assert any(k.startswith("net.videomae.encoder.layer.1.") for k in ckpt["model"])


def test_hf_export_from_pretrained_logits_equal_zeldas(trained, capsys):
    transformers = need("transformers", "transformers")
    from zelda_core._engine.build import model_from_checkpoint

    out = trained["tmp"] / "hf"
    ckpt = trained["run"] / "checkpoints" / "last.pth"
    assert main(["export", str(ckpt), "--format", "hf", "--out", str(out)]) == 0
    assert "verify (hf folder rebuilt" in capsys.readouterr().out
    assert {"config.json", "model.safetensors", "zelda_export.json"} <= {p.name for p in out.iterdir()}
    hf = transformers.AutoModelForVideoClassification.from_pretrained(out).eval()
    assert hf.config.id2label == {0: "doing exercises", 1: "typing"}
    assert hf.config.label2id == {"doing exercises": 0, "typing": 1}
    processor = json.loads((out / "video_preprocessor_config.json").read_text())
    assert processor["crop_size"] == {"height": 32, "width": 32}
    model, _ = model_from_checkpoint(ckpt, device="cpu")
    x = torch.randint(0, 256, (3, 4, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    # the processor's own arithmetic: x * rescale_factor, then (v - mean) / std, per channel
    mean = torch.tensor(processor["image_mean"]).view(1, 1, 3, 1, 1)
    std = torch.tensor(processor["image_std"]).view(1, 1, 3, 1, 1)
    pixel_values = (x.float() * processor["rescale_factor"] - mean) / std
    with torch.no_grad():
        theirs = hf(pixel_values=pixel_values).logits
        ours = model(x.permute(0, 2, 1, 3, 4).unsqueeze(1))  # (B, V=1, C, T, H, W)
    assert (theirs - ours).abs().max().item() <= 1e-5
    # zelda predict takes the folder; the labels are the data's
    video = str(trained["root"] / "val" / "typing49.mp4")
    assert main(["predict", str(out), video, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    names = {p["label"] for r in (result if isinstance(result, list) else result["videos"])
             for p in r["predictions"]}
    assert names == {"doing exercises", "typing"}


def test_onnx_parity_on_the_15_val_videos_and_torchscript(trained, capsys):
    need("onnxruntime", "export")
    ckpt = trained["run"] / "checkpoints" / "last.pth"
    out = trained["tmp"] / "m.onnx"
    assert main(["export", str(ckpt), "--format", "onnx", "--out", str(out),
                 "--verify-clips", "15"]) == 0
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("verify")][0]
    assert "15 clips" in line and "top-1 agrees on 15/15" in line
    from zelda_core._deploy.metadata import read_metadata

    assert read_metadata(out)["verification"]["max_abs_diff"] <= 1e-4
    pt = trained["tmp"] / "m.pt"
    assert main(["export", str(ckpt), "--format", "torchscript", "--out", str(pt),
                 "--verify-clips", "2"]) == 0
    assert json.loads((trained["tmp"] / "m.pt.json").read_text())["verification"]["max_abs_diff"] <= 1e-4


def test_offline_with_an_empty_cache_names_the_files_to_fetch(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home")}
    env.pop("HF_HUB_CACHE", None)
    proc = subprocess.run([*ZELDA, "recipe", "check", str(REPO / "recipes" / "videomae_kinetics_tiny.toml")],
                          capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert proc.returncode != 0
    err = proc.stderr
    assert "Traceback" not in err
    assert "checkpoint = 'MCG-NJU/videomae-base-finetuned-kinetics' is not in the Hugging Face cache" in err
    assert "HF_HUB_OFFLINE is set" in err
    for name in ("config.json", "model.safetensors", "preprocessor_config.json",
                 "hf download MCG-NJU/videomae-base-finetuned-kinetics",
                 str(tmp_path / "hf_home" / "hub")):
        assert name in err, name
    assert not (tmp_path / "hf_home" / "hub").exists() or not any((tmp_path / "hf_home" / "hub").iterdir())


def test_recipe_contradicting_the_model_is_rejected(tmp_path, shared_dir, capsys):
    recipe = tiny_videomae_recipe(tmp_path / "r.toml", shared_dir / "data" / "kinetics2_tiny", tmp_path / "w")
    text = recipe.read_text().replace('{ type = "center_crop" }', '{ type = "center_crop", crop_size = 48 }')
    recipe.write_text(text)
    assert main(["recipe", "check", str(recipe)]) != 0
    err = capsys.readouterr().err
    assert "data.val.pipeline[3].crop_size" in err and "32" in err, err



def test_finetune_patterns_over_the_hf_parameter_names(tmp_path, shared_dir, capsys):
    recipe = tiny_videomae_recipe(tmp_path / "r.toml", shared_dir / "data" / "kinetics2_tiny", tmp_path / "w")
    good = recipe.read_text() + ('\n[train.finetune]\nlr_mult = { "net.classifier.*" = 10.0 }\n'
                                 'freeze = ["net.videomae.embeddings.*"]\nno_decay = ["*norm*", "*bias"]\n')
    recipe.write_text(good)
    assert main(["recipe", "check", str(recipe)]) == 0, capsys.readouterr().err
    recipe.write_text(good.replace("net.classifier.*", "net.clasifier.*"))
    assert main(["recipe", "check", str(recipe)]) != 0
    assert "'net.clasifier.*' matches no parameter" in capsys.readouterr().err
