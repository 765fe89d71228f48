"""TensorBoard scalars in ``work_dir/tensorboard`` (needs the tensorboard package)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from zelda_core.api import ZeldaError, install_hint


class TensorBoardLogger:
    """``kind/name`` scalars at the global step; counters (epoch, iter) and non-finite
    values are left out (they stay in metrics.jsonl)."""

    def __init__(self) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter  # needs `tensorboard`
        except Exception as exc:  # ImportError, or a broken tensorboard install
            raise ZeldaError(f"the tensorboard logger needs the tensorboard package "
                             f"({install_hint('tensorboard')})") from exc
        self._writer_class = SummaryWriter
        self._writer: Any = None

    def start(self, params: dict[str, Any], *, run_name: str, work_dir: Path) -> None:
        self._writer = self._writer_class(str(Path(work_dir) / "tensorboard"))

    def log_metrics(self, kind: str, step: int, values: dict[str, Any]) -> None:
        if self._writer is None:
            return
        for k, v in values.items():
            # a non-finite value stays in metrics.jsonl (as text) but is no point on a chart
            if (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    and k not in ("epoch", "iter")):
                self._writer.add_scalar(f"{kind}/{k}", v, step)

    def log_artifact(self, path: Path, kind: str) -> None:
        """TensorBoard keeps scalars only."""

    def log_summary(self, summary: dict[str, Any]) -> None:
        """TensorBoard keeps scalars only."""

    def finish(self, status: str) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
