"""Errors the engine raises for people (all ZeldaError, so the CLI prints one paragraph)."""

from __future__ import annotations

from .._errors import DataError, ZeldaError


class TrainingError(ZeldaError):
    """Training cannot go on: a NaN/inf loss, a checkpoint that does not fit, no device."""


class CheckpointError(ZeldaError):
    """A checkpoint file that cannot be read or does not match the model."""


class UnreadableSplitError(DataError):
    """An evaluated split none of whose samples could be read: no metric exists."""

    def with_training_note(self, epoch: int) -> UnreadableSplitError:
        """The same error for the training split (nothing to train on, not metrics)."""
        self.args = (str(self).replace("so none of its metrics exists", f"so epoch {epoch + 1} "
                                       "had nothing to train on"),)
        return self

    def __init__(self, split: str, skipped: list[tuple[str, str]], kept: str = ""):
        self.split, self.skipped = split, list(skipped)
        files = list(dict.fromkeys(f for f, _ in skipped))
        reasons = {f: r for f, r in reversed(skipped)}  # each file's first reason
        shown = "; ".join(f"{f}: {reasons[f]}" for f in files[:3])
        more = f"; and {len(files) - 3} more file(s)" if len(files) > 3 else ""
        report = (f"all {len(skipped)} of its sample(s) were skipped as unreadable ({shown}{more})"
                  if skipped else "it gave no sample")
        super().__init__(
            f"data.{split}: no sample could be read, so none of its metrics exists: {report}. "
            f"Check the split with 'zelda data check', then fix or remove those videos from its list"
            + (f"; {kept}" if kept else ""))


def no_training_sample(epoch: int, batches: int, skipped: list[tuple[str, str]]) -> ZeldaError:
    """An epoch that trained on no sample: never a success with loss 0 and 0 clips/s."""
    if skipped:
        return UnreadableSplitError("train", skipped).with_training_note(epoch)
    return TrainingError(
        f"epoch {epoch + 1} trained on no sample: its {batches} batch(es) held no clip ('inputs' "
        "and 'label' missing). Check data.train.pipeline ends with format_shape and pack "
        "('zelda recipe check' and 'zelda bench pipeline' show what each step gives)")
