"""CPU inference clips/s of the base configs of the zelda_transformers architectures
(random weights: the architectures' default ``*Config``, as their published base
checkpoints), and the peak memory of a ViT-B training step, for docs/models.md.

    python benchmarks/transformers_cpu.py [--repeats 3] [--batch 1] [--train]

Each model scores ``repeats`` batches of uint8 clips of its own size through zelda's
``predict`` (normalization included) after one warm-up batch.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
from zelda_transformers import models

BASE = {  # the published base checkpoints' sizes (their config.json)
    "videomae": {},  # ViT-B, 16x224, tubelet 2
    "timesformer": {},  # ViT-B, 8x224, divided space-time attention
    "vivit": {},  # ViT-B, 32x224, tubelet 2x16x16
    "vjepa2": {"frames_per_clip": 16},  # ViT-L, 16x256 (facebook/vjepa2-vitl-fpc16-256-ssv2)
}


def clip(model: torch.nn.Module, batch: int) -> torch.Tensor:
    cfg = model.net.config
    frames = getattr(cfg, "num_frames", None) or cfg.frames_per_clip
    side = getattr(cfg, "image_size", None) or cfg.crop_size
    return torch.randint(0, 256, (batch, 1, 3, frames, side, side), dtype=torch.uint8)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--only", nargs="*", default=list(BASE))
    p.add_argument("--train", action="store_true", help="peak RSS of a VideoMAE training step")
    args = p.parse_args()
    torch.manual_seed(0)
    if args.train:
        for ckpt in (False, True):
            model = models.videomae(num_classes=400, config=BASE["videomae"]).train()
            if ckpt:
                model.enable_gradient_checkpointing()
            x = clip(model, args.batch)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            t = time.perf_counter()
            model.loss(x, torch.zeros(args.batch, dtype=torch.int64)).backward()
            print(f"videomae train step batch {args.batch} checkpointing={ckpt}: "
                  f"{time.perf_counter() - t:.1f} s, peak RSS now "
                  f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB "
                  f"(was {before / 2**20:.2f})", flush=True)
            del model
        return
    for arch in args.only:
        model = getattr(models, arch)(num_classes=400, config=BASE[arch]).eval()
        n = sum(p.numel() for p in model.parameters()) / 1e6
        x = clip(model, args.batch)
        model.predict(x)  # warm-up
        t = time.perf_counter()
        for _ in range(args.repeats):
            model.predict(x)
        dt = (time.perf_counter() - t) / args.repeats
        print(f"{arch}: {n:.0f}M params, clip {tuple(x.shape[3:])}, batch {args.batch}: "
              f"{dt:.2f} s/batch, {args.batch / dt:.2f} clips/s "
              f"({torch.get_num_threads()} threads)", flush=True)
        del model


if __name__ == "__main__":
    main()
