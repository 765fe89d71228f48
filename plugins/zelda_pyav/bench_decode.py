"""``zelda bench decode``: CPU cost of exact clip decoding against the cost floor.

For each file and clip, indices follow the tutorial's sampling (MMAction2's seed
``VideoSample``: ``clip_len`` segments of ``total // clip_len`` frames, a random frame
in each), then each decoder opens the file, returns those frames resized to short side
``size`` and closes it. CPU time is ``getrusage`` (all threads of this process).

The *floor* is one single-thread PyAV sequential decode of just the frames a clip needs
(from each needed keyframe to the last needed frame of its GOP), without colour
conversion: what a decoder that decodes every frame between keyframe and target
cannot go below. A reader that skips non-reference frames can.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zelda_core.api import DecodeError, ZeldaError, expect_file, path_kind
from zelda_decoding.index import (
    PacketIndex,
    build_index,
    get_index,
    open_container,
    packet_time,
    video_stream,
)

VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".flv", ".ts")


def cpu_seconds() -> float:
    """User + system CPU seconds of this process, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def find_videos(paths: Iterable[str]) -> list[Path]:
    """Files given, and video files (by extension) directly or recursively under dirs."""
    out: list[Path] = []
    for p in map(Path, paths):
        if path_kind(p) == "a directory":
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in VIDEO_EXTS)
            continue
        problem = expect_file(p, "video", "a video file or a folder of videos")
        if problem:
            raise ZeldaError(problem)
        out.append(p)
    if not out:
        raise ZeldaError(f"no video files found in {', '.join(map(str, paths))}")
    return out


def tutorial_indices(total: int, clip_len: int, num_clips: int, rng: np.random.Generator) -> np.ndarray:
    """The tutorial's sampling: per clip, one random frame in each of clip_len segments."""
    interval = max(1, total // clip_len)
    clips = []
    for _ in range(num_clips):
        base = np.arange(clip_len) * interval
        clips.append(np.minimum(base + rng.integers(0, interval, size=clip_len), total - 1))
    return np.concatenate(clips).astype(np.int64)


def floor_decode(path: str, index: PacketIndex, indices: Sequence[int]) -> int:
    """Decode, single-thread and without conversion, just what ``indices`` need.

    From each needed keyframe to the last needed frame of its GOP (sequential files:
    from the first packet to the last needed frame). Returns the frames decoded.
    """
    container = open_container(path)
    try:
        stream = video_stream(container, path)
        cc = stream.codec_context
        cc.thread_count = 1
        decoded = 0
        if not index.by_pts:
            last = int(max(indices))
            for _ in container.decode(stream):
                decoded += 1
                if decoded > last:
                    break
            return decoded
        groups: dict[int, int] = {}  # start keyframe -> last decode position needed
        for i in set(int(i) for i in indices):
            pos = index.decode_pos(i)
            key = index.start_key(pos)
            groups[key] = max(groups.get(key, -1), pos)
        for key in sorted(groups):
            end = groups[key]
            container.seek(index.seek_timestamp(key), stream=stream, backward=True)
            cc.flush_buffers()
            started = False
            for pkt in container.demux(stream):
                if pkt.size == 0:
                    break
                pos = index.pos_of_pts(packet_time(pkt))
                if pos is None:
                    continue
                if not started:
                    if pos < key:
                        continue
                    started = True
                decoded += len(cc.decode(pkt))
                if pos >= end:
                    break
            decoded += len(cc.decode(None))
            cc.flush_buffers()
        return decoded
    finally:
        container.close()


def bench_decode(
    paths: Sequence[str],
    decoders: Sequence[str] = ("pyav",),
    *,
    clip_len: int = 16,
    num_clips: int = 1,
    size: int | None = 256,
    repeat: int = 1,
    seed: int = 0,
    options: dict[str, dict[str, Any]] | None = None,
    floor: bool = True,
) -> list[dict[str, Any]]:
    """Measure each decoder on the same clips; one result dict per decoder.

    ``repeat`` passes over the files (the RSS check uses many clips). Files that cannot
    be decoded are counted in ``failed`` and skipped for every decoder.
    """
    from zelda_core.api import open_video

    files = find_videos(paths)
    index_cpu = cpu_seconds()
    usable: list[tuple[str, PacketIndex]] = []
    failed: list[dict[str, str]] = []
    for f in files:
        try:  # cold: demux every packet, as on a file's first open (then it is cached)
            usable.append((str(f), build_index(str(f))))
        except DecodeError as e:
            failed.append({"path": e.path, "reason": e.reason})
    index_cpu = cpu_seconds() - index_cpu
    for path, _ in usable:
        get_index(path)  # fill the cache, as after a file's first open
    warm = list({idx.codec: path for path, idx in usable}.values())  # one file per codec
    if not usable:
        raise ZeldaError("none of the files could be decoded")
    rng = np.random.default_rng(seed)
    plan = [
        (path, tutorial_indices(idx.num_frames, clip_len, num_clips, rng))
        for _ in range(repeat)
        for path, idx in usable
    ]
    returned = sum(len(ind) for _, ind in plan)
    floor_cpu = floor_frames = None
    if floor:
        for path in warm:  # codec initialisation is not decoding
            floor_decode(path, dict(usable)[path], [0])
        c0 = cpu_seconds()
        floor_frames = sum(floor_decode(p, dict(usable)[p], ind) for p, ind in plan[: len(usable)])
        floor_cpu = (cpu_seconds() - c0) / len(usable)
        floor_frames /= sum(len(ind) for _, ind in plan[: len(usable)])
    results = []
    for name in decoders:
        opts = (options or {}).get(name, {})
        for path in warm:  # imports and codec initialisation
            with open_video(path, decoder=name, **opts) as r:
                r.get_frames([0], size=size)
        decoded: int | None = 0  # None: a reader could not say
        rss0 = rss_mb()
        c0, t0 = cpu_seconds(), time.perf_counter()
        for path, ind in plan:
            with open_video(path, decoder=name, **opts) as r:
                r.get_frames(ind, size=size)
                n = getattr(r, "frames_decoded", None)
                decoded = None if decoded is None or n is None else decoded + n
        cpu = cpu_seconds() - c0
        wall = time.perf_counter() - t0
        res: dict[str, Any] = {
            "decoder": name,
            "options": opts,
            "files": len(usable),
            "clips": len(plan),
            "clip_len": clip_len,
            "num_clips": num_clips,
            "size": size,
            "cpu_s_per_clip": round(cpu / len(plan), 5),
            "wall_s_per_clip": round(wall / len(plan), 5),
            "floor_cpu_s_per_clip": None if floor_cpu is None else round(floor_cpu, 5),
            "cpu_vs_floor": None if not floor_cpu else round(cpu / len(plan) / floor_cpu, 3),
            "frames_decoded_per_frame_returned": (
                None if decoded is None else round(decoded / returned, 3)
            ),
            "floor_frames_decoded_per_frame_returned": (
                None if floor_frames is None else round(floor_frames, 3)
            ),
            "index_cpu_s_per_file": round(index_cpu / max(1, len(files)), 5),
            "rss_growth_mb": round(rss_mb() - rss0, 1),
            "failed": failed,
        }
        results.append(res)
    return results


def default_decoders() -> list[str]:
    """Decoders to measure when none is named: pyav, and decord and torchcodec when their
    libraries are installed."""
    import importlib.util

    names = ["pyav"]
    for name in ("decord", "torchcodec"):
        try:
            if importlib.util.find_spec(name) is not None:
                names.append(name)
        except (ImportError, ValueError):
            pass
    return names

