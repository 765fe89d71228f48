"""The example decoder passes zelda's conformance kit, found through its entry point."""

from __future__ import annotations

from zelda_core import build, get_plugin_manager
from zelda_testing import check_decoder, frame_ids, make_video


def test_registered_through_the_entry_point():
    plugin = get_plugin_manager().plugins["zelda_decoder_example"]
    assert plugin.dist == "zelda-decoder-example"
    assert plugin.components == {"decoders": ["opencv"]}


def test_opencv_decoder_conforms(tmp_path):
    check_decoder("opencv", tmp_path)


def test_interpolation_option(tmp_path):
    video = make_video(tmp_path / "v.mp4", 12)
    reader = build("decoders", {"type": "opencv", "interpolation": "linear"}, path=str(video))
    with reader:
        assert frame_ids(reader.get_frames([11, 2], size=24)) == [11, 2]
