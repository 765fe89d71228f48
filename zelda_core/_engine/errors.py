"""Errors the engine raises for people (all ZeldaError, so the CLI prints one paragraph)."""

from __future__ import annotations

from .._errors import ZeldaError


class TrainingError(ZeldaError):
    """Training cannot go on: a NaN/inf loss, a checkpoint that does not fit, no device."""


class CheckpointError(ZeldaError):
    """A checkpoint file that cannot be read or does not match the model."""
