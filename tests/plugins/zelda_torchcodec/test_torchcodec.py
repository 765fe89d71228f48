"""The torchcodec decoder's own behaviour: where its frame index comes from, when it hands a
file to the pyav reader, its device option, a missing FFmpeg, and CUDA (skipped without).

The decoder contract itself (counts, frames, errors, truncation, logs) is checked by
tests/plugins/decoders with ZELDA_TEST_DECODER=torchcodec.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from extras import need
from media import full_decode, make_edit_list_video, make_video

from zelda_core.api import DecodeError, RecipeError, open_video

need("torchcodec.decoders", "torchcodec")

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tc")


def test_counts_and_locates_frames_by_zeldas_index_not_the_header(media: Path) -> None:
    """An MP4 whose first 3 packets lie before its edit list: the header says 40 frames, a
    full decode shows 37. The reader says 37 and returns exactly the decoded frames, located
    through the mappings built from zelda's index."""
    from torchcodec.decoders import VideoDecoder
    from zelda_torchcodec.mappings import frame_mappings

    from zelda_decoding.index import get_index

    src = make_video(media / "src.mp4", frames=40)
    cut = make_edit_list_video(media / "cut.mp4", src)
    ref = full_decode(cut)
    assert len(ref) == 37
    header = VideoDecoder(str(cut), seek_mode="approximate").metadata.num_frames
    assert header == 40  # what torchcodec would trust without a scan
    frames = json.loads(frame_mappings(get_index(str(cut))))["frames"]
    assert len(frames) == 37
    with open_video(str(cut), decoder="torchcodec") as r:
        assert r.num_frames == 37
        got = r.get_frames([36, 0, 17, 17])
        assert "decoded_by" not in r.info()  # torchcodec decoded them itself
    for k, i in enumerate([36, 0, 17, 17]):
        np.testing.assert_array_equal(got[k], ref[i])


def test_avi_goes_to_the_pyav_reader_and_says_so(media: Path) -> None:
    """AVI packets carry counters, not presentation times: torchcodec would seek to wrong
    frames, so the pyav reader decodes the file, and info() says so."""
    path = make_video(media / "clip.avi", frames=30, fmt="avi")
    ref = full_decode(path)
    with open_video(str(path), decoder="torchcodec") as r:
        assert r.info()["decoded_by"].startswith("pyav (")
        got = r.get_frames([29, 3, 3, 14])
    for k, i in enumerate([29, 3, 3, 14]):
        np.testing.assert_array_equal(got[k], ref[i])


def test_a_frame_at_another_time_than_the_index_says_is_never_returned(media: Path) -> None:
    """The timestamps torchcodec returns are checked against the index: on a mismatch the
    file goes to the pyav reader instead of returning a wrong frame."""
    path = make_video(media / "check.mp4", frames=24)
    ref = full_decode(path)
    with open_video(str(path), decoder="torchcodec") as r:
        real = r._decoder

        class Shifted:  # a decoder that hands back the frame after the one asked for
            def get_frames_at(self, indices):  # noqa: ANN001, ANN202
                return real.get_frames_at([min(i + 1, 23) for i in indices])

        r._decoder = Shifted()
        got = r.get_frames([5, 9])
        assert "returned frames at other times" in r.info()["decoded_by"]
    np.testing.assert_array_equal(got[0], ref[5])
    np.testing.assert_array_equal(got[1], ref[9])


def test_device_option_is_checked(media: Path) -> None:
    path = make_video(media / "dev.mp4", frames=8)
    with pytest.raises(RecipeError, match="device must be 'cpu', 'cuda' or 'cuda:N', not 'gpu'"):
        open_video(str(path), decoder="torchcodec", device="gpu")


@pytest.mark.skipif(bool(os.environ.get("CUDA_VISIBLE_DEVICES") == ""), reason="CUDA hidden")
def test_cuda_without_a_gpu_is_one_line(media: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the NVDEC tests below run instead")
    path = make_video(media / "nogpu.mp4", frames=8)
    with pytest.raises(RecipeError, match="needs a CUDA GPU and torchcodec's CUDA build"):
        open_video(str(path), decoder="torchcodec", device="cuda")


def test_the_cpu_path_never_initialises_cuda(media: Path) -> None:
    """Neither decoding on the CPU nor the batched device tail over CPU frames
    (data.device_tail = true, loader workers included) touches CUDA."""
    path = make_video(media / "cpu.mp4", frames=8)
    make_video(media / "cpu2.mp4", frames=8, size=(32, 40))
    (media / "cpu.txt").write_text("cpu.mp4 0\ncpu2.mp4 1\n")
    recipe = {"data": {"root": str(media), "decoder": "torchcodec", "batch_size": 2,
                       "workers": 1, "device_tail": True, "pin_memory": False,
                       "train": {"type": "video_list", "ann_file": "cpu.txt", "pipeline": [
                           {"type": "segment_sample", "clip_len": 2}, {"type": "decode"},
                           {"type": "resize", "size": 16}, {"type": "center_crop", "crop_size": 16},
                           {"type": "flip"}, {"type": "format_shape"}, {"type": "pack"}]}}}
    code = textwrap.dedent(f"""
        import torch
        from zelda_core.api import open_video
        from zelda_core._data import build_dataloader
        with open_video({str(path)!r}, decoder="torchcodec") as r:
            r.get_frames([0, 7], size=16)
            r.get_frames_tensor([0, 7])
        loader = build_dataloader({recipe!r}, "train")
        assert loader.notes and next(iter(loader))["inputs"].shape == (2, 1, 3, 2, 16, 16)
        print(torch.cuda.is_initialized())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_a_forked_worker_is_seen() -> None:
    """A CUDA decoder is refused in a forked DataLoader worker; the check sees the fork."""
    import torch.utils.data as tud
    from zelda_torchcodec.device import _in_forked_worker

    class Probe(tud.Dataset):
        def __len__(self) -> int:
            return 1

        def __getitem__(self, i: int) -> bool:
            return _in_forked_worker()

    assert _in_forked_worker() is False
    loader = tud.DataLoader(Probe(), num_workers=1, multiprocessing_context="fork",
                            collate_fn=lambda b: b[0])
    assert next(iter(loader)) is True


def test_missing_ffmpeg_is_one_line_naming_the_packages(tmp_path: Path) -> None:
    """torchcodec raises a page of load errors when no FFmpeg libraries are installed; zelda
    plugins --check shows one line with the apt packages (a stand-in torchcodec raises
    torchcodec's own message)."""
    fake = tmp_path / "torchcodec"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        'raise RuntimeError("Could not load libtorchcodec. Likely causes:\\n'
        '  1. FFmpeg is not properly installed in your environment.")\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "zelda_core", "plugins", "--check"], env=env,
                         capture_output=True, text=True, cwd=REPO)
    lines = [line for line in out.stdout.splitlines() if "torchcodec" in line and "FFmpeg" in line]
    assert len(lines) == 1, out.stdout + out.stderr
    assert "apt-get install -y libavcodec59 libavformat59 libavutil57" in lines[0]
    assert "Traceback" not in out.stdout + out.stderr


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU and torchcodec's CUDA build")
def test_nvdec_decodes_the_same_frames(media: Path) -> None:
    """device = "cuda": decoded on NVDEC and resized on the GPU; the frames are pyav's within
    the decoder tests' tolerance (another colour conversion)."""
    path = make_video(media / "gpu.mp4", frames=40, size=(128, 160))
    ids = [39, 0, 12, 12, 25]
    with open_video(str(path), decoder="torchcodec", device="cuda") as g, \
            open_video(str(path), decoder="pyav") as p:
        for size in (None, 64):
            a, b = g.get_frames(ids, size=size), p.get_frames(ids, size=size)
            assert a.shape == b.shape and a.dtype == np.uint8
            assert np.abs(a.astype(int) - b).mean() < 3.0
        assert g.info()["device"] == "cuda"


@pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU and torchcodec's CUDA build")
def test_nvdec_tail_keeps_the_frames_on_the_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """device = "cuda" (data.device_tail "auto"): the batch arrives on the GPU, decoded on
    NVDEC and resized, cropped, flipped and formatted there in one batched step; no frame
    goes through host memory. The pixels are the CPU per-sample path's within the decoder
    tests' tolerance; indices, crops, flips and labels are exactly the same."""
    import torch
    from zelda_torchcodec.reader import TorchcodecReader

    from zelda_core._data import build_dataloader
    from zelda_core._deferred import DeferredFrames

    lines = []
    for i, size in enumerate([(128, 160), (96, 128), (128, 160), (112, 112), (96, 128)]):
        make_video(tmp_path / f"v{i}.mp4", frames=24, size=size)
        lines.append(f"v{i}.mp4 {i % 2}")
    (tmp_path / "ann.txt").write_text("\n".join(lines) + "\n")
    meta = ["filename", "label", "index", "frame_inds", "crop_bbox", "flip", "img_shape"]

    def batches(**decoder):
        recipe = {"seed": 1, "data": {
            "root": str(tmp_path), "decoder": "torchcodec", "decoder_options": decoder,
            "batch_size": 4, "workers": 0, "train": {"type": "video_list", "ann_file": "ann.txt", "pipeline": [
                {"type": "segment_sample", "clip_len": 4}, {"type": "decode"},
                {"type": "resize", "size": 64}, {"type": "random_resized_crop"},
                {"type": "resize", "size": [32, 32]}, {"type": "flip"},
                {"type": "format_shape"}, {"type": "pack", "meta_keys": meta}]}}}
        loader = build_dataloader(recipe, "train")
        return loader.notes, list(loader)

    _, ref = batches(device="cpu")

    def host(*args, **kwargs):
        raise AssertionError("frames went through host memory")

    monkeypatch.setattr(TorchcodecReader, "_decode_torchcodec", host)
    monkeypatch.setattr(DeferredFrames, "materialize", host)
    notes, gpu = batches(device="cuda")
    assert len(notes) == 1 and "run on the GPU (cuda)" in notes[0]
    assert len(gpu) == len(ref) == 2
    for a, b in zip(ref, gpu):
        assert b["inputs"].is_cuda and b["inputs"].dtype == torch.uint8
        assert a["inputs"].shape == b["inputs"].shape
        assert (a["inputs"].int() - b["inputs"].cpu().int()).abs().float().mean() < 3.0
        assert torch.equal(a["label"], b["label"]) and a["meta"] == b["meta"]


@pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU and torchcodec's CUDA build")
def test_nvdec_tail_runs_the_augmentations_on_the_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rand_augment (every op), trivial_augment, color_jitter, grayscale and random_erasing
    in the GPU tail: each batch's tail run on the GPU equals the same clips' tail run on
    the CPU (the ops' own device handling; only float rounding may differ)."""
    import torch

    import zelda_core._data.loader as loader_mod
    from zelda_core._data import build_dataloader
    from zelda_core._deferred import run_tail

    for i, size in enumerate([(128, 160), (96, 128), (112, 112), (96, 128)]):
        make_video(tmp_path / f"a{i}.mp4", frames=24, size=size)
    (tmp_path / "ann.txt").write_text("".join(f"a{i}.mp4 {i % 2}\n" for i in range(4)))
    checked = []

    def both(clips, device=None):
        gpu = run_tail(clips)
        cpu = run_tail(clips, torch.device("cpu"))
        assert gpu.is_cuda and gpu.shape == cpu.shape
        assert (gpu.cpu().int() - cpu.int()).abs().float().mean() < 1.0
        checked.append(len(clips))
        return gpu

    monkeypatch.setattr(loader_mod, "run_tail", both)
    recipe = {"seed": 2, "data": {
        "root": str(tmp_path), "decoder": "torchcodec", "decoder_options": {"device": "cuda"},
        "batch_size": 4, "workers": 0, "train": {"type": "video_list", "ann_file": "ann.txt", "pipeline": [
            {"type": "segment_sample", "clip_len": 4}, {"type": "decode"},
            {"type": "resize", "size": 64}, {"type": "center_crop", "crop_size": 48},
            {"type": "rand_augment", "num_ops": 6, "prob": 1.0},
            {"type": "rand_augment", "num_ops": 6, "prob": 1.0, "interpolation": "bilinear"},
            {"type": "trivial_augment"},
            {"type": "color_jitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1},
            {"type": "grayscale", "p": 0.5}, {"type": "random_erasing", "p": 1.0, "mode": "pixel"},
            {"type": "format_shape"}, {"type": "pack"}]}}}
    for epoch in range(3):
        for b in build_dataloader(recipe, "train", epoch=epoch):
            assert b["inputs"].is_cuda
    assert checked == [4, 4, 4]


@pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU and torchcodec's CUDA build")
def test_nvdec_broken_file_is_a_decode_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 4096)
    with pytest.raises(DecodeError):
        open_video(str(bad), decoder="torchcodec", device="cuda")


def test_torchcodec_itself_decodes_every_timestamped_file_of_the_corpus(shared_dir: Path) -> None:
    """On files whose packets carry presentation times (VFR included), torchcodec finds
    every frame where zelda's index puts it: nothing goes to the pyav reader, and the frames
    are pyav's, bit for bit (both convert with FFmpeg's default YUV->RGB)."""
    from decoder_fixtures import manifest

    seen = 0
    for name, truth in sorted(manifest().items()):
        if "error" in truth or name.endswith(".avi"):
            continue
        path = str(shared_dir / "data" / "videos" / name)
        n = truth["frames"]
        ids = sorted({0, n // 2, n - 1})
        with open_video(path, decoder="torchcodec") as t, open_video(path, decoder="pyav") as p:
            got = t.get_frames(ids, size=64)
            assert "decoded_by" not in t.info(), (name, t.info()["decoded_by"])
            np.testing.assert_array_equal(got, p.get_frames(ids, size=64), err_msg=name)
        seen += 1
    assert seen >= 8
