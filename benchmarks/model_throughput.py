"""The model's side of training throughput: clips/s with no data loading at all.

Builds a recipe's model and trains it with the engine's own Trainer on synthetic uint8
clips already in (pinned) host memory, so the figure is the ceiling a data loader has to
feed: host-to-device copy, preprocessing, forward, backward and optimizer step. Compare it
with ``clips/s`` of a real ``zelda run`` to see how loader-bound training is.

    python benchmarks/model_throughput.py recipes/kinetics_tiny.toml \
        --device cuda --batch 16 --amp bf16 none --channels-last auto false --steps 40

Prints one line per variant and, with --json, one JSON object per line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, nargs="+", default=[16])
    ap.add_argument("--amp", nargs="+", default=["auto"])
    ap.add_argument("--channels-last", nargs="+", default=["auto"])
    ap.add_argument("--compile", nargs="+", default=["false"])
    ap.add_argument("--clip", default="16x224", help="TxS: frames x square side (default 16x224)")
    ap.add_argument("--views", type=int, default=1)
    ap.add_argument("--steps", type=int, default=30, help="timed steps per variant, after 5 warm-up steps")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import torch

    from zelda_core._engine.assemble import build_training
    from zelda_core._engine.build import build_model, model_table
    from zelda_core._engine.config import parse_train_config
    from zelda_core._engine.log import RunLogger
    from zelda_core._engine.loop import Trainer
    from zelda_core._recipe import load_recipe

    recipe = load_recipe(args.recipe)
    t, s = (int(v) for v in args.clip.split("x"))
    flag = {"true": True, "false": False, "auto": "auto"}
    for batch, amp, cl, comp in itertools.product(args.batch, args.amp, args.channels_last, args.compile):
        torch.manual_seed(0)
        model = build_model(model_table(recipe.data, 2, file=recipe.file), file=recipe.file)
        train = dict(recipe.data.get("train") or {})
        train.update(device=args.device, amp=amp, channels_last=flag[cl], compile=flag[comp], epochs=1)
        cfg = parse_train_config(train)
        gen = torch.Generator().manual_seed(0)
        batches = []
        for _ in range(4):  # rotate a few distinct batches
            x = torch.randint(0, 256, (batch, args.views, 3, t, s, s), dtype=torch.uint8, generator=gen)
            y = torch.randint(0, 2, (batch,), generator=gen)
            if torch.cuda.is_available():
                x = x.pin_memory()
            batches.append({"inputs": x, "label": y, "meta": [{}] * batch, "skipped": []})
        n = args.steps + 5
        with tempfile.TemporaryDirectory() as tmp:
            trainer = Trainer(build_training(model, config=cfg, train_batches=lambda e, st=0, b=batches, n=n: [b[i % 4] for i in range(st, n)],
                              steps_per_epoch=n, work_dir=tmp,
                              logger=RunLogger(tmp, tensorboard=False, quiet=True)))
            trainer.train_epoch(0, start_batch=n - 5)  # warm-up (compile, cuDNN autotune)
            start = time.perf_counter()
            trainer.train_epoch(0, start_batch=5)  # args.steps steps; each syncs on its loss
            step = (time.perf_counter() - start) / args.steps
            mem = (torch.cuda.max_memory_allocated(trainer.device) / 2**20
                   if trainer.device.type == "cuda" else None)
            row = {"device": str(trainer.device), "batch": batch, "amp": str(trainer.dtype).replace("torch.", ""),
                   "channels_last": trainer.channels_last, "compile": cfg.compile, "clip": args.clip,
                   "views": args.views, "step_s": round(step, 5),
                   "clips_per_s": round(batch * args.views / step, 1),
                   "gpu_mem_mib": round(mem) if mem is not None else None}
            if trainer.device.type == "cuda":
                row["gpu"] = torch.cuda.get_device_name(trainer.device)
            print(json.dumps(row) if args.json else
                  f"batch {batch:3d}  amp {row['amp']:9s} channels_last {str(row['channels_last']):5s} "
                  f"compile {str(cfg.compile):5s}  {step * 1000:8.1f} ms/step  {row['clips_per_s']:8.1f} clips/s"
                  + (f"  peak {row['gpu_mem_mib']} MiB" if mem is not None else ""), flush=True)
        del trainer, model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
    return 0


if __name__ == "__main__":
    sys.exit(main())
