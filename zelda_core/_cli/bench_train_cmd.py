"""``zelda bench train RECIPE``: model ceiling, loader supply and end-to-end clips/s."""

from __future__ import annotations

import argparse
import json

from .common import add_decoder_argument, add_set_argument, decoder_override


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train", help="will this device starve? model ceiling vs loader supply",
        description="For the recipe as written: the model's ceiling in clips/s (synthetic "
                    "uint8 batches already on the device, forward + backward + step with the "
                    "recipe's AMP/channels_last/compile settings), the training loader's supply "
                    "in clips/s with the recipe's workers (real decoding, no model), the "
                    "predicted bound, and the measured end-to-end clips/s with the share of "
                    "time spent waiting for data. With data.decoder = \"auto\" (or --decoder auto) "
                    "it first measures the loader with every installed decoder and uses the "
                    "cheapest, saying which and why; several --decoder run the whole "
                    "measurement for each, side by side.")
    p.add_argument("recipe", help="path to a .toml recipe")
    p.add_argument("--device", default=None, help="override train.device (cpu, cuda, cuda:N)")
    p.add_argument("--batches", type=int, default=None,
                   help="batches for the loader and the end-to-end runs (default 200 on a GPU, "
                        "20 on the CPU)")
    p.add_argument("--model-batches", type=int, default=None,
                   help="synthetic batches for the model ceiling (default min(batches, 50))")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_decoder_argument(p, repeat=True)
    add_set_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._engine.bench_train import bench_train
    from .._errors import ZeldaError
    from .._recipe import load_recipe

    if (args.batches is not None and args.batches < 1) or \
            (args.model_batches is not None and args.model_batches < 1):
        raise ZeldaError("--batches and --model-batches must be at least 1")
    reports = []
    for decoder in args.decoder or [None]:
        overrides = args.overrides + ([decoder_override(decoder)] if decoder else [])
        recipe = load_recipe(args.recipe, overrides)
        reports.append(bench_train(recipe, device=args.device, batches=args.batches,
                                   model_batches=args.model_batches))
    if args.json:
        print(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2))
        return 0
    for r in reports:
        _print_report(r)
    if len(reports) > 1:
        print("side by side (loader supply, end to end, data share):")
        for r in reports:
            print(f"  {r['decoder']:<12} {r['loader_supply_clips_s']:10.2f} clips/s "
                  f"{r['end_to_end_clips_s']:10.2f} clips/s  {100 * r['data_share']:5.1f}%")
    return 0


def _print_report(r: dict) -> None:
    print(f"{r['recipe']}: batch {r['batch_size']} of {r['clip_shape']}, {r['workers']} workers, "
          f"decoder {r['decoder']}, {r['placement']}")
    if "decoder_choice" in r:
        print(f"  {r['decoder_choice']['message']}")
    for line in r.get("device_tail") or ():
        print(f"  {line}")
    print(f"  model ceiling  {r['model_ceiling_clips_s']:10.2f} clips/s  (synthetic batches on the device)")
    if "targets_step_share" in r:
        print(f"    without {'; '.join(r['targets'])}: {r['model_ceiling_plain_clips_s']:.2f} clips/s; "
              f"they take {100 * r['targets_step_share']:.1f}% of a step's time (median step "
              f"difference {100 * r['targets_step_difference']:+.1f}%, measured side by side)")
    print(f"  loader supply  {r['loader_supply_clips_s']:10.2f} clips/s  (real decoding, no model)")
    print(f"  end to end     {r['end_to_end_clips_s']:10.2f} clips/s  ({100 * r['data_share']:.0f}% "
          f"of the time waiting for data)")
    print(f"  {r['message']}")
