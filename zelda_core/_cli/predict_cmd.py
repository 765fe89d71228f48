"""``zelda predict CKPT VIDEO...``: label probabilities; the checkpoint carries its recipe."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict", help="classify videos with a checkpoint (no recipe needed)",
        description="Rebuild the model and the test pipeline from the recipe stored in CKPT and "
                    "print the top-k labels with their probabilities for each VIDEO.")
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint file written by zelda run")
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files")
    p.add_argument("--top-k", type=int, default=5, help="labels per video (default 5)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--device", default="auto", help="auto (default), cpu or cuda:N")
    p.add_argument("--decoder", help="override the recipe's decoder (a decoders component; see zelda plugins)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from .._engine.predict import predict_videos
    from .._errors import ZeldaError

    if args.top_k < 1:
        raise ZeldaError(f"--top-k must be >= 1, got {args.top_k}")
    results = predict_videos(args.checkpoint, args.videos, top_k=args.top_k, device=args.device,
                             decoder=args.decoder)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(r["video"])
            if "error" in r:
                print(f"  error: {r['error']}")
                continue
            for p in r["predictions"]:
                print(f"  {p['probability']:7.2%}  {p['label']}")
    failed = sum("error" in r for r in results)
    return 1 if failed else 0
