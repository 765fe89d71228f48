"""Every codec PyAV can encode here, in every container that takes it, and every file of
the shared corpus, with the backend under test: a reader decodes exactly what a plain
sequential PyAV decode yields, or refuses with a DecodeError naming the file. Nothing
else ever leaves a reader (decord used to leak ValueError for VP8 and
UnknownCodecError for AV1 from its packet feed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from decoder_fixtures import (
    CONTAINERS,
    ENCODERS,
    assert_frames_match,
    full_decode,
    make_codec_video,
    manifest,
)

from zelda_core.api import DecodeError, open_video

REFUSED = {("decord", "av1")}
"""(backend, codec) pairs that may refuse: decord 0.6's own FFmpeg has no AV1 decoder."""

MANIFEST = manifest()


def _calls(n: int) -> list[list[int]]:
    rng = np.random.default_rng(1)
    return [[n - 1, 0, n // 2, 3, n - 1], sorted(rng.choice(n, min(n, 8), replace=False).tolist()),
            list(range(n))]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("codecs")


@pytest.mark.parametrize("ext", list(CONTAINERS))
@pytest.mark.parametrize("codec", list(ENCODERS))
def test_codec_in_container(media: Path, decoder_name: str, codec: str, ext: str) -> None:
    path = make_codec_video(media / f"{codec}.{ext}", codec)
    if path is None:
        pytest.skip(f"no {codec} encoder here, or {ext} does not take {codec}")
    ref = full_decode(path)
    try:
        with open_video(str(path), decoder=decoder_name) as r:
            assert r.num_frames == len(ref)
            for ids in _calls(len(ref)):
                assert_frames_match(r.get_frames(ids), ref, ids, decoder_name == "pyav", path.name)
            small = r.get_frames([len(ref) - 1, 1], size=24)  # resizing goes the same way
            assert small.shape[1:] == (24, 32, 3)
    except DecodeError as e:
        assert str(path) in str(e)
        assert (decoder_name, codec) in REFUSED, f"{path.name} refused: {e}"
        return
    assert (decoder_name, codec) not in REFUSED or decoder_name == "pyav"


@pytest.mark.parametrize("name", sorted(MANIFEST) or ["(no shared corpus)"])
def test_corpus_file_decodes_exactly_or_refuses(shared_dir: Path, decoder_name: str, name: str) -> None:
    """24 frames at the start, middle and end of the file (one call each), against a
    sequential PyAV decode; or a DecodeError naming it where the manifest has an error."""
    import av

    videos = shared_dir / "data" / "videos"
    if not MANIFEST:
        pytest.skip(f"no decoder corpus at {videos}")
    path, truth = videos / name, MANIFEST[name]
    try:
        reader = open_video(str(path), decoder=decoder_name)
    except DecodeError as e:
        assert "error" in truth and str(path) in str(e), f"{path.name}: {e}"
        return
    assert "error" not in truth, f"{path.name} opened, the manifest says {truth.get('error')}"
    with reader, av.open(str(path)) as c:
        n = reader.num_frames
        assert n == truth["frames"]
        runs = [range(s, min(n, s + 24)) for s in sorted({0, max(0, n // 2 - 12), max(0, n - 24)})]
        want = {i for r in runs for i in r}
        c.streams.video[0].codec_context.thread_count = 1
        ref, seen = {}, 0
        for frame in c.decode(video=0):
            if seen in want:
                ref[seen] = frame.to_ndarray(format="rgb24")
            seen += 1
        assert seen == n, f"{path.name}: PyAV decodes {seen} frames, the reader says {n}"
        for r in runs:
            ids = list(r)
            got = reader.get_frames(ids)
            assert_frames_match(got, [ref[i] for i in ids], list(range(len(ids))),
                                decoder_name == "pyav", f"{path.name} frames {ids[0]}..{ids[-1]}")
