"""``zelda bench train``: will this device starve? Model ceiling, loader supply, end to end.

Three measurements of the recipe as written (its model, batch size, workers, AMP,
channels_last and compile settings):

1. **loader supply**: clips/s the training loader delivers with the recipe's workers
   (real decoding, no model), after the workers have started;
2. **model ceiling**: clips/s of forward + backward + optimizer step on synthetic uint8
   batches of the loader's shape, already on the device (no data cost at all);
3. **end to end**: clips/s of real training steps fed by the loader, and the share of
   the time the step waited for data.

Steps include what a run does to each batch before the loss (label smoothing,
``[[train.batch_transforms]]`` such as mixup/cutmix, class weights). When the recipe has
any, the model ceiling is measured with and without them side by side (one step of each
in turn, so both see the same load); the report gives their own time (timed inside the
steps) as a share of the plain steps' time, and the median step-to-step difference.

The predicted bound is the smaller of (1) and (2).
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Iterator
from typing import Any

import torch

from .._contracts import check_loss
from .._errors import DataError
from .._recipe_tables import AUTO_DECODER
from .._video import DEFAULT_DECODER
from .build import build_model, model_table
from .config import parse_train_config
from .device import make_scaler, place_model, select_device
from .errors import no_training_sample
from .optim import build_optimizer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _batches(loader: Any) -> Iterator[dict[str, Any]]:
    """The loader's batches over as many epochs as it takes."""
    for epoch in itertools.count():
        loader.set_epoch(epoch, 0)
        found = False
        for batch in loader:
            if batch.get("errors"):
                raise DataError("; ".join(batch["errors"]))
            if batch.get("label") is not None and len(batch["label"]):
                found = True
                yield batch
        if not found:  # a whole epoch without a sample: another would be the same
            raise no_training_sample(epoch, len(loader), [])


DEFAULT_BATCHES = {"cuda": 200, "cpu": 20}
"""Batches measured when none are asked for: a GPU step takes milliseconds, a CPU step of
the tutorial recipe seconds (200 CPU steps took over 5 minutes)."""


def bench_train(recipe: Any, *, device: str | None = None, batches: int | None = None,
                model_batches: int | None = None, warmup: int = 3,
                progress: bool = True) -> dict[str, Any]:
    """Measure the recipe; returns the report (see the module docstring). ``batches``
    defaults to :data:`DEFAULT_BATCHES` for the device; ``progress`` shows one bar over
    all the steps, with its ETA, on stderr."""
    from tqdm import tqdm

    from .._data import build_dataloader, build_dataset
    from .._data.workers import resolve_workers

    data = copy.deepcopy(recipe.data)
    file = recipe.file
    choice = None
    if (data.get("data") or {}).get("decoder") == AUTO_DECODER:
        choice = choose_decoder(recipe, batches=AUTO_BATCHES, progress=progress)
        data["data"]["decoder"] = choice["chosen"]
    cfg = parse_train_config(data.get("train"), file=file)
    if device:
        cfg.device = device
    dev = select_device(cfg.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(int(data.get("seed", 0)))
    ds = build_dataset(data, "train", recipe_file=file)
    model = build_model(model_table(data, len(ds.classes) or None, file=file,
                                    multi_label=bool(getattr(ds, "multi_label", False))), file=file)
    place = place_model(model, device=dev, amp=cfg.amp, channels_last=cfg.channels_last)
    optimizer = build_optimizer(model, cfg.optimizer)
    scaler = make_scaler(place.device, place.dtype)
    if cfg.compile:
        model.compile()
    model.train()
    loader = build_dataloader(data, "train", ds)
    data_table = data.get("data") or {}
    workers = resolve_workers(data_table.get("workers", 0))
    if batches is None:
        batches = DEFAULT_BATCHES["cuda" if place.device.type == "cuda" else "cpu"]
    n_model = model_batches or max(5, min(batches, 50))
    bar = tqdm(total=1 + 2 * max(1, batches) + warmup + n_model, unit="step", disable=not progress,
               desc="bench train: loader supply", dynamic_ncols=True, leave=False)

    from .targets import Targets

    targets = Targets.from_config(cfg, classes=list(ds.classes), labels=[r[1] for r in ds.records],
                                  seed=int(data.get("seed", 0)), rank=0, file=file,
                                  multi_label=bool(getattr(ds, "multi_label", False)))
    drawn = itertools.count()
    spent = [0.0]  # seconds in the targets' own work (synchronized before and after)

    def step(inputs: torch.Tensor, labels: torch.Tensor, soft: bool = True) -> None:
        if soft and targets.soft:
            _sync(place.device)
            t0 = time.perf_counter()
            inputs, labels = targets(inputs, labels, epoch=0, step=next(drawn), device=place.device)
            _sync(place.device)
            spent[0] += time.perf_counter() - t0
        with torch.autocast(place.device.type, dtype=place.dtype, enabled=place.dtype is not None):
            loss = model.loss(inputs, labels)
        check_loss(loss, model, first=False)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    # 1. loader supply (the first batch pays for worker start-up: not counted)
    feed = _batches(loader)
    t0 = time.perf_counter()
    first = next(feed)
    startup = time.perf_counter() - t0
    bar.update()
    clips = 0
    t0 = time.perf_counter()
    for _ in range(max(1, batches)):
        clips += int(len(next(feed)["label"]))
        bar.update()
    supply = clips / (time.perf_counter() - t0)

    # 2. model ceiling: synthetic uint8 batches of the same shape, already on the device
    bar.set_description("bench train: model ceiling")
    shape = tuple(first["inputs"].shape)
    num_classes = int(getattr(model, "num_classes", 0) or len(ds.classes) or 1)
    inputs = torch.randint(0, 256, shape, dtype=torch.uint8, device=place.device)
    labels = torch.randint(0, num_classes, (shape[0],), dtype=torch.int64, device=place.device)
    for _ in range(warmup):
        step(inputs, labels)
        bar.update()
    times: dict[bool, list[float]] = {True: [], False: []}  # with and without the targets' work
    spent[0] = 0.0
    for _ in range(n_model):
        for soft in ((True, False) if targets.soft else (True,)):  # side by side, in turn
            _sync(place.device)
            t0 = time.perf_counter()
            step(inputs, labels, soft)
            _sync(place.device)
            times[soft].append(time.perf_counter() - t0)
        bar.update()
    ceiling = n_model * shape[0] / sum(times[True])
    extra: dict[str, Any] = {}
    if targets.soft:
        pairs = sorted(a / b for a, b in zip(times[True], times[False]))
        extra = {"targets": targets.lines,
                 "model_ceiling_plain_clips_s": round(n_model * shape[0] / sum(times[False]), 3),
                 # their own time against the plain steps', and the steps' difference (median pair)
                 "targets_step_share": round(spent[0] / sum(times[False]), 4),
                 "targets_step_difference": round(pairs[len(pairs) // 2] - 1, 4)}

    # 3. end to end: real batches into real steps, timing the wait for data
    bar.set_description("bench train: end to end")
    waited = 0.0
    clips = 0
    _sync(place.device)
    t0 = end = time.perf_counter()
    for _ in range(max(1, batches)):
        batch = next(feed)
        got = time.perf_counter()
        waited += got - end
        step(batch["inputs"], batch["label"])
        _sync(place.device)
        clips += int(len(batch["label"]))
        end = time.perf_counter()
        bar.update()  # after the timing: the bar's own cost is not measured
    bar.close()
    total = end - t0
    end_to_end = clips / total
    loader.close()

    bound = "loader" if supply < ceiling else "model"
    ratio = max(supply, ceiling) / min(supply, ceiling)
    if bound == "loader":
        message = (f"loader-bound by {ratio:.1f}x: use `zelda data prepare` or more workers "
                   f"(data.workers = {workers}, this machine has {_cores()} cores)")
    else:
        message = f"model-bound by {ratio:.1f}x: the loader keeps up with {place.describe()}"
    report = {
        "recipe": file, "device": str(place.device), "placement": place.describe(),
        "decoder": (data.get("data") or {}).get("decoder", DEFAULT_DECODER),
        "batch_size": shape[0], "clip_shape": list(shape[1:]), "workers": workers,
        "batches": batches, "model_batches": n_model,
        "model_ceiling_clips_s": round(ceiling, 3),
        "loader_supply_clips_s": round(supply, 3),
        "loader_startup_s": round(startup, 2),
        "predicted_bound": bound, "bound_ratio": round(ratio, 2),
        "predicted_clips_s": round(min(supply, ceiling), 3),
        "end_to_end_clips_s": round(end_to_end, 3),
        "data_share": round(waited / total, 3) if total else None,
        "message": message, "device_tail": loader.notes, **extra,
    }
    if choice is not None:
        report["decoder_choice"] = choice
    return report


AUTO_BATCHES = 4
"""Batches per decoder and round when ``data.decoder = "auto"`` chooses (after the first,
which pays for worker start-up)."""


def choose_decoder(recipe: Any, *, batches: int = AUTO_BATCHES, rounds: int = 2,
                   progress: bool = True) -> dict[str, Any]:
    """``data.decoder = "auto"``: the training loader's supply (clips/s, the recipe's
    workers) with each installed decoder, in alternating rounds (a, b, c, then c, b, a, so
    that neither the page cache nor the machine's load favours one); the highest mean wins.
    A decoder that cannot be built or read here (missing library, options it does not take)
    is left out with its reason."""
    from .._errors import ZeldaError
    from .._registry import components

    names = sorted(components("decoders"))
    supply: dict[str, list[float]] = {n: [] for n in names}
    skipped: dict[str, str] = {}
    order = list(names)
    for r in range(rounds):
        for name in (order if r % 2 == 0 else order[::-1]):
            if name in skipped:
                continue
            data = copy.deepcopy(recipe.data)
            data["data"]["decoder"] = name
            try:
                supply[name].append(loader_supply(data, recipe.file, batches=batches))
            except (ZeldaError, ImportError, OSError) as exc:
                skipped[name] = str(exc).splitlines()[0]
    measured = {n: round(sum(v) / len(v), 3) for n, v in supply.items() if v and n not in skipped}
    if not measured:
        raise DataError("data.decoder = \"auto\": no installed decoder could read this recipe's "
                        "training videos: " + "; ".join(f"{n}: {why}" for n, why in skipped.items()))
    chosen = max(measured, key=measured.get)
    others = ", ".join(f"{n} {v:.2f}" for n, v in sorted(measured.items(), key=lambda kv: -kv[1])
                       if n != chosen)
    why = (f"decoder auto: {chosen}, the highest loader supply ({measured[chosen]:.2f} clips/s"
           + (f" vs {others}" if others else ", the only decoder that could read the videos")
           + f"; {rounds} rounds of {batches} batches each)")
    if skipped:
        why += "; left out: " + "; ".join(f"{n} ({r})" for n, r in skipped.items())
    return {"chosen": chosen, "loader_supply_clips_s": measured, "skipped": skipped,
            "batches": batches, "rounds": rounds, "message": why}


def loader_supply(data: dict[str, Any], file: str | None, *, batches: int) -> float:
    """Clips/s the training loader of recipe dict ``data`` delivers (real decoding, no
    model), after its first batch (worker start-up)."""
    from .._data import build_dataloader, build_dataset

    ds = build_dataset(data, "train", recipe_file=file)
    loader = build_dataloader(data, "train", ds)
    try:
        feed = _batches(loader)
        next(feed)
        clips = 0
        t0 = time.perf_counter()
        for _ in range(max(1, batches)):
            clips += int(len(next(feed)["label"]))
        return clips / (time.perf_counter() - t0)
    finally:
        loader.close()


def _cores() -> int:
    from .._data.workers import usable_cores

    return usable_cores()
