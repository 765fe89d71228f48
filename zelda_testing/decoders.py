"""The decoder contract (``zelda_core.api.Decoder``), checked on media the kit makes."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from zelda_core.api import DecodeError, Decoder, resolve_size

from .errors import Clauses
from .media import frame_ids, make_corrupt, make_rotated, make_truncated, make_video, shown

FRAMES = 40
SIZE = (48, 64)


def _opener(decoder: str | Callable[..., Any], options: dict[str, Any]) -> Callable[[Path], Any]:
    if callable(decoder):
        return lambda path: decoder(str(path), **options)
    from zelda_core.api import open_video

    return lambda path: open_video(str(path), decoder, **options)


def check_decoder(decoder: str | Callable[..., Any], workdir: str | Path,
                  **options: Any) -> list[str]:
    """Run the decoder contract against ``decoder``: a registered name (built through
    zelda's registry, as a recipe would) or a factory ``factory(path, **options)``.

    Media are written under ``workdir``. Returns the clauses that passed; raises
    ConformanceError listing every clause that failed."""
    workdir = Path(workdir)
    open_ = _opener(decoder, options)
    name = decoder if isinstance(decoder, str) else getattr(decoder, "__name__", repr(decoder))
    c = Clauses(f"decoder {name!r}")
    video = make_video(workdir / "kit_bframes.mp4", FRAMES, size=SIZE)
    everything = list(range(FRAMES))
    h, w = SIZE

    reader = c.check("opens a valid H.264 file with B-frames", lambda: open_(video))
    if reader is None:
        return c.done()

    def metadata() -> None:
        assert isinstance(reader, Decoder), "missing members of zelda_core.api.Decoder"
        assert reader.num_frames == FRAMES, f"num_frames {reader.num_frames}, expected {FRAMES}"
        assert (reader.height, reader.width) == SIZE, \
            f"size {reader.height}x{reader.width}, expected {h}x{w}"
        assert math.isclose(reader.fps, 25, rel_tol=0.01), f"fps {reader.fps}, expected 25"
        assert math.isclose(reader.duration, FRAMES / 25, rel_tol=0.01), \
            f"duration {reader.duration}, expected {FRAMES / 25}"
        assert str(reader.path) == str(video), f"path {reader.path!r}, expected {str(video)!r}"
        info = reader.info()
        assert isinstance(info, dict) and info.get("frames") == FRAMES, f"info() {info}"

    def frames_of(indices: Any, size: Any = None) -> np.ndarray:
        out = reader.get_frames(indices, size=size)
        assert isinstance(out, np.ndarray) and out.dtype == np.uint8, \
            f"expected a uint8 numpy array, got {type(out).__name__} {getattr(out, 'dtype', '')}"
        return out

    def all_in_order() -> None:
        out = frames_of(everything)
        assert out.shape == (FRAMES, h, w, 3), f"shape {out.shape}, expected {(FRAMES, h, w, 3)}"
        got = frame_ids(out)
        assert got == everything, f"frames in display order expected, got {got}"

    def any_order_with_duplicates() -> None:
        asked = [17, 3, 3, FRAMES - 1, 0, 17, 12, 11]
        got = frame_ids(frames_of(asked))
        assert got == asked, f"asked {asked}, got {got}"
        got = frame_ids(frames_of(np.array([5, 2], dtype=np.int32)))
        assert got == [5, 2], f"numpy indices [5, 2] gave {got}"

    def empty() -> None:
        out = frames_of([])
        assert out.shape == (0, h, w, 3), f"empty request: shape {out.shape}, expected (0, {h}, {w}, 3)"

    def out_of_range() -> None:
        for bad in (-1, FRAMES, FRAMES + 100):
            try:
                reader.get_frames([0, bad])
            except IndexError:
                continue
            raise AssertionError(f"index {bad} of {FRAMES} frames did not raise IndexError")
        assert frame_ids(frames_of([1])) == [1], "the reader broke after an IndexError"

    def resize() -> None:
        for size in (24, (30, 40), (-1, 32), (16, -1)):
            eh, ew = resolve_size(h, w, size)
            out = frames_of([2, 30], size=size)
            assert out.shape == (2, eh, ew, 3), f"size={size!r}: shape {out.shape}, expected (2, {eh}, {ew}, 3)"
            assert frame_ids(out) == [2, 30], f"size={size!r}: frames {frame_ids(out)}"

    c.check("metadata: true frame count, size, fps, duration, info()", metadata)
    c.check("get_frames(all) returns every frame in display order", all_in_order)
    c.check("any order, duplicates and numpy indices are honoured", any_order_with_duplicates)
    c.check("an empty request returns (0, H, W, 3)", empty)
    c.check("out-of-range indices raise IndexError", out_of_range)
    c.check("size: int short side (MMAction2 rounding), (h, w), (-1, w), (h, -1)", resize)

    def closed() -> None:
        reader.close()
        reader.close()  # idempotent
        try:
            reader.get_frames([0])
        except DecodeError:
            return
        raise AssertionError("get_frames on a closed reader did not raise DecodeError")

    c.check("close() is idempotent and a closed reader raises DecodeError", closed)

    def context_manager() -> None:
        with open_(video) as r:
            assert frame_ids(r.get_frames([4])) == [4]
        try:
            r.get_frames([0])
        except DecodeError:
            return
        raise AssertionError("leaving the with-block did not close the reader")

    c.check("a reader is a context manager that closes", context_manager)

    def other_containers() -> None:
        for suffix in (".mkv", ".avi"):
            path = make_video(workdir / f"kit_plain{suffix}", 20, size=(32, 48),
                              x264="keyint=5:min-keyint=5:scenecut=0:bframes=0")
            with open_(path) as r:
                assert r.num_frames == 20, f"{suffix}: num_frames {r.num_frames}, expected 20"
                got = frame_ids(r.get_frames([19, 0, 7]))
                assert got == [19, 0, 7], f"{suffix}: frames {got}"

    c.check("Matroska and AVI files count and decode too", other_containers)

    def rotated() -> None:
        with open_(video) as r:
            stored = r.get_frames([0, 13, 30])
        for degrees, hflip in ((-90, False), (90, False), (180, False), (90, True)):
            what = f"display matrix {degrees} degrees{' mirrored' if hflip else ''}"
            path = make_rotated(workdir / f"kit_rot{degrees}{'m' if hflip else ''}.mp4",
                                video, degrees, hflip=hflip)
            want = shown(stored, degrees, hflip=hflip)
            with open_(path) as r:
                sh, sw = want.shape[1:3]
                assert (r.height, r.width) == (sh, sw), \
                    f"{what}: size {r.height}x{r.width}, expected {sh}x{sw} (as shown)"
                got = r.get_frames([0, 13, 30])
                assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
                diff = np.abs(got.astype(int) - want).mean()
                assert diff < 1, f"{what}: frames differ from the source's turned frames by {diff:.1f}"
                eh, ew = resolve_size(sh, sw, 24)
                small = r.get_frames([13], size=24)
                assert small.shape == (1, eh, ew, 3), \
                    f"{what}: size=24 gave {small.shape}, expected (1, {eh}, {ew}, 3) (as shown)"

    c.check("a rotated video (display matrix) is returned as shown; size applies to it",
            rotated)

    def bad_file(path: Path) -> Callable[[], None]:
        def run() -> None:
            try:
                with open_(path) as r:
                    r.get_frames(list(range(r.num_frames)))
            except DecodeError:
                return
            except Exception as exc:
                raise AssertionError(f"raised {type(exc).__name__} ({exc}), not DecodeError") from exc
            raise AssertionError("no DecodeError for a file that holds no (complete) video")
        return run

    c.check("a file that is not a video raises DecodeError",
            bad_file(make_corrupt(workdir / "kit_corrupt.mp4")))
    c.check("a missing file raises DecodeError", bad_file(workdir / "kit_missing.mp4"))
    c.check("a truncated file raises DecodeError",
            bad_file(make_truncated(workdir / "kit_truncated.mp4", video)))
    return c.done()
