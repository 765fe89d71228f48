"""``zelda predict MODEL VIDEO|FOLDER...``: labels for videos, whole or in sliding windows.

MODEL is a checkpoint (it carries its recipe) or a file written by ``zelda export``.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict", help="classify videos (whole, or in sliding windows) with a checkpoint "
                        "or an exported model",
        description="Prepare each VIDEO with the test pipeline stored in MODEL (a checkpoint, "
                    "or an ONNX/TorchScript/torch.export file from zelda export) and print the "
                    "top-k labels with their probabilities. Folders are searched for video "
                    "files. With --window, every window of WINDOW seconds (every STRIDE "
                    "seconds) is sampled as the test pipeline samples a whole video, and a "
                    "smoothed timeline of labels follows each video. A video that cannot be "
                    "read is reported and skipped (exit status 1); the others are predicted.")
    p.add_argument("checkpoint", metavar="MODEL", help="checkpoint (.pth) or exported model")
    p.add_argument("videos", nargs="*", metavar="VIDEO", help="video files or folders")
    p.add_argument("--list", dest="lists", action="append", default=[], metavar="FILE",
                   help="a file listing videos, one path per line (repeatable)")
    p.add_argument("--top-k", type=int, default=5, help="labels per video or window (default 5)")
    p.add_argument("--threshold", type=float, metavar="P",
                   help="every label with probability >= P instead of the top k (a multi-label "
                        "model: the default, P = 0.5)")
    p.add_argument("--window", type=float, metavar="SECONDS", help="score sliding windows of this length")
    p.add_argument("--stride", type=float, metavar="SECONDS",
                   help="seconds between window starts (default: --window, no overlap)")
    p.add_argument("--smooth", type=int, default=1, metavar="N",
                   help="timeline: average scores over N windows on each side (default 1)")
    p.add_argument("--format", dest="fmt", choices=("table", "json", "jsonl", "csv"),
                   help="output format (default table; --json is --format json)")
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", "-o", metavar="FILE", help="write the output to FILE (atomically)")
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda:N")
    p.add_argument("--amp", default="auto", choices=("auto", "none", "bf16", "fp16"),
                   help="mixed precision (auto: bf16 on CUDA, none on CPU)")
    p.add_argument("--batch-size", type=int, default=8, help="clips per model call (default 8)")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers (default 2)")
    p.add_argument("--decoder", help="override the recipe's decoder (a decoders component; see zelda plugins)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import math
    import sys

    from .._deploy.metadata import sidecar_path
    from .._deploy.predict import expand_inputs, load_source, predict
    from .._deploy.predict_output import render
    from .._errors import ZeldaError
    from .._outputs import check_output_file, write_output

    if args.top_k < 1:
        raise ZeldaError(f"--top-k must be >= 1, got {args.top_k}")
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise ZeldaError(f"--threshold is a probability in [0, 1], got {args.threshold}")
    for name, value in (("--window", args.window), ("--stride", args.stride)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ZeldaError(f"{name} is seconds and must be a positive finite number, got {value}")
    if args.stride is not None and args.window is None:
        raise ZeldaError("--stride needs --window")
    if args.batch_size < 1:
        raise ZeldaError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.workers < 0:
        raise ZeldaError(f"--workers must be >= 0 (0 reads videos in this process), got {args.workers}")
    if args.device != "auto":  # the device is checked before any work, named as the user set it
        from .._engine.device import select_device

        select_device(args.device, option="--device")
    videos = expand_inputs(args.videos, args.lists)
    if not videos:
        raise ZeldaError("no video given: name files or folders, or --list FILE")
    inputs = [("the model", args.checkpoint), ("its metadata", sidecar_path(args.checkpoint))]
    inputs += [("a video list", f) for f in args.lists] + [("a video", v) for v in videos]
    if args.out:  # checked before any work: an output never lands on an input
        check_output_file(args.out, inputs=inputs)
    source = load_source(args.checkpoint, device=args.device, amp=args.amp, decoder=args.decoder)
    for note in source.notes:
        print(f"zelda: {note}", file=sys.stderr)
    results = predict(source, videos, top_k=args.top_k, window=args.window, stride=args.stride,
                      batch_size=args.batch_size, workers=args.workers, smooth_radius=args.smooth,
                      threshold=args.threshold)
    fmt = args.fmt or ("json" if args.json else "table")
    text = render(results, fmt)
    if args.out:
        write_output(args.out, text, option="--out", inputs=inputs)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if args.window is not None and fmt != "table":
        for r in results:
            if r.timeline_text:
                print(f"{r.video}: {r.timeline_text}", file=sys.stderr)
    failed = sum(r.error is not None for r in results)
    if failed:
        print(f"zelda: {failed} of {len(results)} videos could not be read (reported above)",
              file=sys.stderr)
    return 1 if failed else 0
