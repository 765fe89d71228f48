"""The logger contract (``zelda_core.api.Logger``): a whole run's calls, in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import Clauses

MEMBERS = ("start", "log_metrics", "log_artifact", "log_summary", "finish")


def _build(logger: Any, params: dict[str, Any]) -> Any:
    from zelda_core import build

    if isinstance(logger, str):
        return build("loggers", {"type": logger, **params})
    if isinstance(logger, dict):
        return build("loggers", logger)
    return logger(**params) if isinstance(logger, type) or params else logger


def check_logger(logger: Any, workdir: str | Path, *, params: dict[str, Any] | None = None) -> list[str]:
    """Run the logger contract in ``workdir``: it builds, has the five members, takes a
    whole run's calls in the engine's order (nested params, scalars with NaN and counters,
    a checkpoint artifact, the summary, finish) without raising, and a second logger of
    the same table runs after the first (no global state left behind)."""
    params = params or {}
    name = logger if isinstance(logger, str) else getattr(logger, "__name__", type(logger).__name__)
    c = Clauses(f"logger {name!r}")
    base = Path(workdir)

    def whole_run(index: int) -> None:
        work = base / f"run{index}"
        work.mkdir(parents=True, exist_ok=True)
        (work / "resolved.toml").write_text('seed = 0\n[train]\nepochs = 2\n')
        ckpt = work / "checkpoints" / "best.pth"
        ckpt.parent.mkdir(exist_ok=True)
        ckpt.write_bytes(b"not really a checkpoint")
        built = _build(logger, params)
        missing = [m for m in MEMBERS if not callable(getattr(built, m, None))]
        assert not missing, f"no {', '.join(missing)}"
        recipe = {"seed": 0, "data": {"batch_size": 2, "train": {"pipeline": [{"type": "decode"}]}},
                  "model": {"type": "recognizer", "head": {"num_classes": 4}}, "train": {"epochs": 2}}
        built.start(recipe, run_name=work.name, work_dir=work)
        for epoch in (1, 2):
            built.log_metrics("train", epoch * 10, {"epoch": epoch, "iter": 10, "loss": 0.5, "lr": 0.01})
            built.log_metrics("epoch", epoch * 10, {"epoch": epoch, "loss": 0.5, "lr": 0.01, "seconds": 1.0})
            built.log_metrics("val", epoch * 10, {"epoch": epoch, "top1": 0.5, "odd": float("nan")})
        built.log_artifact(ckpt, "checkpoint")
        built.log_metrics("test", 20, {"top1": 0.5})
        built.log_summary({"epochs": 2, "best_metric": "top1", "best_value": 0.5, "best_epoch": 1,
                           "val": {"top1": 0.5}, "skipped": []})
        built.finish("success")

    c.check("builds and takes a whole run's calls in order", lambda: whole_run(1))
    if not c.failures:
        c.check("a second logger of the same table works after the first", lambda: whole_run(2))
    return c.done()
