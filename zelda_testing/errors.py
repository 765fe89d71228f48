"""The one exception the kit raises, and the collector that builds it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class ConformanceError(AssertionError):
    """A component that breaks its kind's contract: ``failures`` lists every clause."""

    def __init__(self, subject: str, failures: list[str]):
        self.subject, self.failures = subject, failures
        lines = "\n".join(f"- {f}" for f in failures)
        super().__init__(f"{subject} breaks {len(failures)} clause(s) of its contract:\n{lines}")


class Clauses:
    """Run named checks, collecting failures instead of stopping at the first."""

    def __init__(self, subject: str):
        self.subject = subject
        self.failures: list[str] = []
        self.passed: list[str] = []

    def check(self, clause: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn``; an AssertionError or any exception is a failure of ``clause``."""
        try:
            result = fn()
        except AssertionError as exc:
            self.failures.append(f"{clause}: {exc}")
            return None
        except Exception as exc:  # noqa: BLE001 - every way to fail is reported
            self.failures.append(f"{clause}: raised {type(exc).__name__}: {exc}")
            return None
        self.passed.append(clause)
        return result

    def done(self) -> list[str]:
        """The clauses that passed; raises ConformanceError if any failed."""
        if self.failures:
            raise ConformanceError(self.subject, self.failures)
        return self.passed
