"""``zelda run``: train a recipe, validate, then test the best checkpoint.

``assemble`` builds the run's objects (config, work dir, data, model, metrics, optimizer);
the loop in ``zelda_core._engine.loop`` trains them; the after-training test is
``evaluate.test_checkpoint``; then the summary and the plots.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .assemble import assembled_run
from .evaluate import save_metric_files, test_checkpoint
from .files import write_json
from .log import RunLogger, show, show_metrics
from .loop import FitResult, Trainer


def run_training(recipe: Any, *, work_dir: str | Path | None = None, resume: str | Path | bool | None = None,
                 init_from: str | Path | None = None, download: bool = True, force_lock: bool = False,
                 force_init: bool = False, plots: bool | None = None) -> dict[str, Any]:
    """Train ``recipe`` (a ``zelda_core._recipe.Recipe``), validate, then test the best
    checkpoint on the test split if the recipe has one. Returns a summary dict.

    The work dir is checked (a writable folder) and locked for the run (``force_lock``
    takes a lock another host's run holds); ``force_init`` accepts ``init_from`` weights
    that match none of the model's tensors. ``plots``: draw the run's pictures into
    ``work_dir/plots`` at the end (needs matplotlib); None means yes unless the environment
    sets ``ZELDA_PLOTS=0``.

    Under torchrun every process runs this; rank 0 alone writes the work dir (see
    docs/distributed.md). A process torchrun restarted after a failure
    (``--max-restarts``) resumes from ``last.pth`` when there is one.

    The run's objects are built once, in ``assemble.assembled_run`` (which also holds the
    work dir: checked, locked, and left as it was found when the run fails before writing
    into it); the ``Trainer`` receives them built."""
    with assembled_run(recipe, work_dir=work_dir, resume=resume, download=download, init_from=init_from,
                       force_lock=force_lock) as parts:
        status = "failed"
        try:
            summary = _train_and_report(parts, force_init=force_init, plots=plots)
            status = "success"
            return summary
        finally:
            parts.training.logger.close(status)


def _train_and_report(parts: Any, *, force_init: bool, plots: bool | None) -> dict[str, Any]:
    """Train, save the val metric files, test, write summary.json and the plots."""
    site, training = parts.site, parts.training
    ctx, work_dir, logger = site.ctx, site.work_dir, training.logger
    if plots is None:
        plots = os.environ.get("ZELDA_PLOTS", "1") != "0"
    trainer = Trainer(training)
    if parts.init_from:
        trainer.init_from(parts.init_from, force=force_init)
    result: FitResult = trainer.fit(resume=site.resume)
    parts.train_loader.close()  # its workers would otherwise idle on prefetched batches
    summary: dict[str, Any] = {
        "work_dir": str(work_dir), "epochs": result.epochs, "seconds": round(result.seconds, 1),
        "best_metric": result.best_metric, "best_value": result.best_value,
        "best_epoch": result.best_epoch, "val": result.last_metrics,
        "best_checkpoint": str(result.best_checkpoint) if result.best_checkpoint else None,
        "last_checkpoint": str(result.last_checkpoint) if result.last_checkpoint else None,
        "skipped": [list(s) for s in result.skipped],
    }
    if training.ema is not None:  # train.ema: the average's metrics, and which weights count
        summary["val_ema"] = result.ema_metrics
        summary["best_weights"] = result.best_weights
    if result.best_checkpoint and ctx.is_main:
        logger.artifact(result.best_checkpoint, "checkpoint")
    if parts.val_loader is not None and training.metrics and ctx.is_main:
        for path in save_metric_files(training.metrics, work_dir / "val", training.classes):
            logger.artifact(path, "metrics")
    if "test" in parts.splits:
        ckpt = result.best_checkpoint or result.last_checkpoint
        report = test_checkpoint(parts.resolved, ckpt, split="test", out=work_dir / "test_metrics.json",
                                 device=str(trainer.device))
        test_metrics = report["metrics"]
        logger.record("test", trainer.global_step, **test_metrics)
        logger.info(f"test ({Path(ckpt).name}): {show_metrics(test_metrics)}")
        summary["test"] = test_metrics
        summary["skipped"] += report["skipped"]
    if ctx.is_main:
        report_skipped(logger, summary["skipped"])
    if result.best_value is not None:
        best = f"best {result.best_metric} {show(result.best_value)} at epoch {result.best_epoch}"
    elif result.last_metrics:
        best = (f"no best checkpoint ({result.best_metric} was never a number)" if result.best_metric
                else "no best checkpoint (the metrics give no number)")
    else:
        best = "no validation"
    logger.info(f"done in {result.seconds:.0f} s: {best}; checkpoints in {result.checkpoint_dir}")
    if ctx.is_main:
        write_json(work_dir / "summary.json", summary)
        if plots:
            for path in write_plots(logger, work_dir):
                logger.artifact(path, "plot")
            report = write_report(logger, work_dir, ctx.enabled)
            if report is not None:
                logger.artifact(report, "report")
        logger.summary(summary)
    return summary


def write_plots(logger: RunLogger, work_dir: Path) -> list[Path]:
    """The pictures of ``zelda plot`` in ``work_dir/plots`` when matplotlib is installed
    (the ``plot`` extra); without it, one line says so and how to install it; a failure to
    draw is a warning, never a failed run. Returns the files drawn."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        from .._install import install_hint

        logger.info(f"plots skipped: matplotlib is not installed ({install_hint('plot')}; "
                    "--no-plots or ZELDA_PLOTS=0 leaves them out without this line)")
        return []
    from .._deploy.plot import plot_runs

    try:
        files = plot_runs([work_dir], work_dir / "plots")
    except Exception as exc:  # noqa: BLE001 - the run itself succeeded
        logger.warning(f"could not draw the run's plots: {type(exc).__name__}: {exc}")
        return []
    logger.info(f"plots: {len(files)} files in {work_dir / 'plots'} (zelda plot draws them again)")
    return [Path(f) for f in files]


def write_report(logger: RunLogger, work_dir: Path, distributed: bool) -> Path | None:
    """``work_dir/report.html`` (``zelda report`` builds it again); a failure is a
    warning, never a failed run. Not under torchrun: its val pass would need every
    process (``zelda report WORK_DIR`` afterwards)."""
    if distributed:
        logger.info(f"report: zelda report {work_dir} writes it (not written by a distributed run)")
        return None
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return None  # write_plots said it once
    from .._deploy.report import build_report

    try:
        path = build_report(work_dir)
    except Exception as exc:  # noqa: BLE001 - the run itself succeeded
        logger.warning(f"could not write the run report: {type(exc).__name__}: {exc} "
                       f"(zelda report {work_dir} tries again)")
        return None
    logger.info(f"report: {path} (zelda report rebuilds it)")
    return path


def report_skipped(logger: RunLogger, skipped: list[list[str]]) -> None:
    """Warn once about every sample skipped as unreadable, listing up to 10 files."""
    if not skipped:
        return
    files = sorted({f for f, _ in skipped})
    logger.warning(f"{len(skipped)} sample(s) skipped ({len(files)} distinct file(s)) because they "
                   "could not be read; they are listed in train.log and summary.json:")
    for f in files[:10]:
        reason = next(r for g, r in skipped if g == f)
        logger.info(f"  {f}: {reason}")
    if len(files) > 10:
        logger.info(f"  ... and {len(files) - 10} more")
