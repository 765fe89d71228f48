"""``zelda export CKPT --format onnx|torchscript|torch-export|<a model's own> --out FILE``."""

from __future__ import annotations

import argparse

from .._install import install_hint


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export", help="export a checkpoint (with its preprocessing) and verify the file",
        description="Export the model of CKPT, including the uint8 -> float preprocessing and "
                    "view averaging, as ONNX, TorchScript or a torch.export program. The file "
                    "takes uint8 RGB frames (N, V, C, T, H, W), or (N, C, T, H, W) with one "
                    "view, prepared as the recipe's test pipeline does, and returns (N, K) "
                    "scores. Label names, sampling, resize/crop, mean/std, versions and the "
                    "checkpoint's SHA-256 go into the ONNX metadata or a FILE.json sidecar. "
                    "Before the file appears, the exported model is run (onnxruntime for ONNX) "
                    "next to the PyTorch model on real clips; a difference beyond --tolerance "
                    f"is an error. ONNX needs: {install_hint('export')}.")
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint file written by zelda run")
    p.add_argument("--format", "-f", dest="fmt", required=True, metavar="FORMAT",
                   help="what to write: onnx, torchscript, torch-export, or a format the "
                        "model writes itself (the transformers models: hf, a folder "
                        "AutoModelForVideoClassification.from_pretrained loads)")
    p.add_argument("--out", "-o", required=True, metavar="FILE",
                   help="output file (a folder for a model's own format)")
    p.add_argument("--clip-len", type=int, metavar="T",
                   help="frames per clip (default: the test pipeline's)")
    p.add_argument("--size", type=int, metavar="S",
                   help="crop size (default: the test pipeline's; an int resize scales with it)")
    p.add_argument("--views", type=int, metavar="V",
                   help="views per video, clips x crops (default: the test pipeline's); "
                        "1 gives a (N, C, T, H, W) input")
    p.add_argument("--dynamic-batch", action="store_true",
                   help="any batch size N (default: N = 1)")
    p.add_argument("--verify-video", action="append", default=[], metavar="VIDEO",
                   help="verify on this video (repeatable; default: the recipe's test/val videos)")
    p.add_argument("--verify-clips", type=int, default=8, metavar="N",
                   help="recipe videos to verify on (default 8)")
    p.add_argument("--data-root", metavar="DIR",
                   help="data.root for the verification videos, when it moved since training")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest allowed absolute score difference (default 1e-4)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._deploy.export import export_checkpoint

    report = export_checkpoint(
        args.checkpoint, args.out, fmt=args.fmt, clip_len=args.clip_len, size=args.size,
        views=args.views, dynamic_batch=args.dynamic_batch, verify_videos=args.verify_video,
        verify_clips=args.verify_clips, data_root=args.data_root, tolerance=args.tolerance)
    from .._deploy.metadata import FORMATS

    extra = "" if args.fmt in ("onnx",) or args.fmt not in FORMATS else \
        " (metadata in {}.json)".format(report["out"])
    print(f"done: {report['out']}{extra}")
    return 0
