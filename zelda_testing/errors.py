"""The one exception the kit raises, and the collector that builds it."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any


class ConformanceError(AssertionError):
    """A component that breaks its kind's contract: ``failures`` lists every clause."""

    def __init__(self, subject: str, failures: list[str],
                 causes: list[BaseException] | None = None):
        self.subject, self.failures = subject, failures
        self.causes = list(causes or [])
        """The exceptions the component raised, in clause order (their tracebacks intact)."""
        lines = "\n".join(f"- {f}" for f in failures)
        super().__init__(f"{subject} breaks {len(failures)} clause(s) of its contract:\n{lines}")


class Clauses:
    """Run named checks, collecting failures instead of stopping at the first."""

    def __init__(self, subject: str):
        self.subject = subject
        self.failures: list[str] = []
        self.passed: list[str] = []
        self.causes: list[BaseException] = []

    def check(self, clause: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn``; an AssertionError or any exception is a failure of ``clause``."""
        try:
            result = fn()
        except AssertionError as exc:
            self.failures.append(f"{clause}: {exc}")
            return None
        except Exception as exc:  # noqa: BLE001 - every way to fail is reported
            # the original traceback goes with the failure: where the component broke
            where = "".join(traceback.format_exception(exc)).rstrip().replace("\n", "\n    ")
            self.failures.append(f"{clause}: raised {type(exc).__name__}: {exc}\n    {where}")
            self.causes.append(exc)
            return None
        self.passed.append(clause)
        return result

    def done(self) -> list[str]:
        """The clauses that passed; raises ConformanceError if any failed."""
        if self.failures:
            raise ConformanceError(self.subject, self.failures, self.causes) from (
                self.causes[0] if self.causes else None)
        return self.passed
