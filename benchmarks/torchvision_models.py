"""Parameters, GFLOPs and clips/s (train step and inference) of the torchvision models.

Each model is built through zelda's registry (random weights: speed does not depend on
them) at its weights' input size (clip length and crop from ``input_spec``) and timed on
batch-1 clips after one warm-up iteration. GFLOPs per clip are torchvision's own figure
(``weights.meta["_ops"]``, at the size it was measured for).

    python benchmarks/torchvision_models.py [--device cpu] [--iters 2] [--frames N] [--amp]
        [--channels-last] [ARCH ...]

Prints one Markdown table row per model (docs/models.md).
"""

from __future__ import annotations

import argparse
import time

import torch


def bench(arch: str, device: torch.device, iters: int, frames: int | None, amp: bool,
          channels_last: bool, batch: int) -> str:
    from zelda_torchvision.models import input_spec
    from zelda_torchvision.weights import weight_enum

    from zelda_core._registry import build

    spec = input_spec(arch, {"weights": "KINETICS400_V1"})
    t = frames or spec.frames
    model = build("models", {"type": arch, "num_classes": 400}, key="model").to(device)
    if channels_last and hasattr(model, "enable_channels_last"):
        model.enable_channels_last()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    gflops = weight_enum(arch).DEFAULT.meta.get("_ops", float("nan"))
    x = torch.randint(0, 256, (batch, 1, 3, t, spec.crop, spec.crop), dtype=torch.uint8, device=device)
    y = torch.zeros(batch, dtype=torch.long, device=device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def run(train: bool) -> float:
        model.train(train)
        times = []
        for i in range(iters + 1):
            sync()
            t0 = time.perf_counter()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                if train:
                    loss = model.loss(x, y)
                else:
                    with torch.inference_mode():
                        model.predict(x)
            if train:
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
            sync()
            if i:  # the first is the warm-up
                times.append(time.perf_counter() - t0)
        return batch * len(times) / sum(times)

    infer = run(False)
    train = run(True)
    size = f"{t}x{spec.crop}x{spec.crop}"
    return f"| {arch} | {params:.1f} | {gflops:.1f} | {size} | {train:.3g} | {infer:.3g} |"


def main() -> None:
    from zelda_torchvision.archs import ARCHS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("archs", nargs="*", default=list(ARCHS))
    p.add_argument("--device", default="cpu")
    p.add_argument("--iters", type=int, default=2)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--frames", type=int, help="clip length (default: the weights')")
    p.add_argument("--amp", action="store_true", help="bf16 autocast")
    p.add_argument("--channels-last", action="store_true")
    args = p.parse_args()
    device = torch.device(args.device)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"batch {args.batch}, {args.iters} timed iterations, amp {args.amp}, "
          f"channels_last {args.channels_last}")
    print("| model | params (M) | GFLOPs/clip | input (TxHxW) | train clips/s | inference clips/s |")
    print("|---|---|---|---|---|---|")
    for arch in args.archs:
        print(bench(arch, device, args.iters, args.frames, args.amp, args.channels_last, args.batch),
              flush=True)


if __name__ == "__main__":
    main()
