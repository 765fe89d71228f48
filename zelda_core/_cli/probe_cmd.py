"""``zelda probe VIDEO...``: true frame count, rate, size, codec, keyframe interval."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "probe",
        help="show what a decoder reads from videos (or why it cannot)",
        description="Open each video with a decoder and print its metadata: the frame count "
        "a full decode yields (from the packets, not the header), fps, size as shown (a rotated "
        "video's display matrix applied, as ffmpeg does), codec, duration and keyframe interval; or the reason the file cannot be read. Exit code 1 when any "
        "file is unreadable.",
    )
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files")
    p.add_argument("--decoder", default=None, metavar="NAME",
                   help="decoder plugin (default: the recipe default, data.decoder)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per file")
    p.set_defaults(func=run)


def probe(path: str, decoder: str | None = None) -> dict:
    """Metadata of one file, or ``{"path", "error"}`` when it cannot be decoded."""
    from .._errors import DecodeError
    from .._video import open_video

    try:
        with open_video(path, decoder=decoder) as reader:
            return reader.info()
    except DecodeError as exc:
        return {"path": path, "error": exc.reason}


def run(args: argparse.Namespace) -> int:
    results = [probe(v, args.decoder) for v in args.videos]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            if "error" in r:
                print(f"{r['path']}: cannot decode: {r['error']}")
                continue
            header = r.get("header_frames")
            lie = f" (header says {header})" if header is not None and header != r["frames"] else ""
            if r.get("truncated"):
                lie += f" (TRUNCATED: {r['truncated']}; only the frames that decode are counted)"
            turn = r.get("orientation", "as stored")
            shown = "" if turn == "as stored" else f" ({turn})"
            print(
                f"{r['path']}: {r['frames']} frames{lie}, {r['fps']:.3f} fps, "
                f"{r['width']}x{r['height']}{shown}, {r['codec']}, {r['duration']:.2f} s, "
                f"keyframe every {r.get('keyframe_interval', float('nan')):.1f} frames"
            )
    return 1 if any("error" in r for r in results) else 0
