"""``zelda probe`` and ``zelda bench decode`` on small files made here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from media import make_video

from zelda_core._cli.main import main


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("clips")
    make_video(d / "a.mp4", frames=40)
    make_video(d / "b.mkv", frames=30, fmt="matroska")
    (d / "broken.mp4").write_text("not a video")
    return d


def test_probe_json(clips: Path, decoder_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["probe", "--json", "--decoder", decoder_name, str(clips / "a.mp4"), str(clips / "b.mkv")])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["frames"] for r in out] == [40, 30]
    assert out[1]["header_frames"] == 0  # Matroska does not say; the packets do
    assert out[0]["keyframe_interval"] == pytest.approx(40 / 4)
    assert {"fps", "width", "height", "codec", "duration"} <= set(out[0])


def test_probe_text_and_unreadable(clips: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["probe", str(clips / "a.mp4"), str(clips / "broken.mp4")])
    out = capsys.readouterr().out
    assert rc == 1
    assert "40 frames" in out and "keyframe every" in out
    assert f"{clips / 'broken.mp4'}: cannot decode: not a readable video" in out


def test_bench_decode_json(clips: Path, decoder_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "decode", str(clips), "--decoder", decoder_name, "--clip-len", "8",
               "--size", "32", "--json"])
    assert rc == 0
    (res,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for key in ("decoder", "clips", "cpu_s_per_clip", "floor_cpu_s_per_clip",
                "frames_decoded_per_frame_returned"):
        assert key in res
    assert res["decoder"] == decoder_name and res["clips"] == 2
    assert res["failed"][0]["path"].endswith("broken.mp4")
    if decoder_name == "torchcodec":  # torchcodec does not say how many frames it decoded
        assert res["frames_decoded_per_frame_returned"] is None
        return
    # pyav and decord leave out the non-reference frames nobody asked for: below the floor
    assert res["frames_decoded_per_frame_returned"] < res["floor_frames_decoded_per_frame_returned"]


def test_bench_decode_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "decode", str(tmp_path / "missing")]) == 1
    assert main(["bench", "decode", str(tmp_path)]) == 1  # no videos in it
    assert "no video files" in capsys.readouterr().err


def test_bench_pipeline_compares_decoders_side_by_side(shared_dir: Path, decoder_name: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """--decoder, repeated: each backend over the same videos in alternating rounds, the
    ratio to the first."""
    other = "decord" if decoder_name == "pyav" else decoder_name
    pytest.importorskip(other)
    recipe = Path(__file__).resolve().parents[3] / "benchmarks/pipeline/kinetics2_tiny.toml"
    rc = main(["bench", "pipeline", str(recipe), "--split", "tutorial_train", "--limit", "2",
               "--set", f"data.root={json.dumps(str(shared_dir / 'data/kinetics2_tiny'))}",
               "--decoder", "pyav", "--decoder", other, "--decoder", "pyav", "--rounds", "2", "--json"])
    assert rc == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["decoder"] for r in rows] == ["pyav", other]
    assert all(r["videos"] == 2 and len(r["cpu_s_per_video_rounds"]) == 2 for r in rows)
    assert rows[0]["vs_first"] == 1.0 and rows[1]["vs_first"] > 0


@pytest.mark.parametrize("command", [["bench", "train"], ["bench", "pipeline"]])
def test_bench_decoder_option_reaches_the_recipe(command: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    recipe = Path(__file__).resolve().parents[3] / "recipes/kinetics_tiny.toml"
    assert main([*command, str(recipe), "--decoder", "no_such_decoder"]) == 1
    assert "no_such_decoder" in capsys.readouterr().err
