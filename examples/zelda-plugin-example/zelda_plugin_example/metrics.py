"""A metric with zelda's interface: reset(), update(scores, labels), compute()."""

from __future__ import annotations


class ErrorRate:
    """Fraction of samples whose top-scoring class is wrong."""

    def __init__(self, prefix: str = "error"):
        self.prefix = prefix
        self.reset()

    def reset(self) -> None:
        self.wrong = 0
        self.total = 0

    def update(self, scores, labels) -> None:
        pred = scores.argmax(dim=1) if hasattr(scores, "argmax") else scores
        self.wrong += int((pred != labels).sum())
        self.total += int(len(labels))

    def compute(self) -> dict[str, float]:
        return {f"{self.prefix}_rate": self.wrong / self.total if self.total else float("nan")}
