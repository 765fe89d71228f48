"""The bundled loggers pass the conformance kit; metrics.jsonl keeps its format."""

from __future__ import annotations

import json

import pytest
from extras import need

from zelda_testing import ConformanceError, check_logger

pytestmark = pytest.mark.decoder_independent


def test_jsonl_conforms_and_writes_one_strict_json_object_per_record(tmp_path):
    check_logger("jsonl", tmp_path)
    lines = (tmp_path / "run1" / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(x) for x in lines]  # strict JSON: NaN as text
    assert records[0] == {"type": "train", "step": 10, "epoch": 1, "iter": 10, "loss": 0.5, "lr": 0.01}
    assert records[2]["odd"] == "nan" and [r["type"] for r in records].count("val") == 2


def test_tensorboard_conforms(tmp_path):
    need("tensorboard", "tensorboard")
    check_logger("tensorboard", tmp_path)
    assert any((tmp_path / "run1" / "tensorboard").iterdir())


class NoSummary:
    def start(self, params, *, run_name, work_dir): ...

    def log_metrics(self, kind, step, values): ...

    def log_artifact(self, path, kind): ...

    def finish(self, status): ...


class Raises(NoSummary):
    def log_summary(self, summary):
        raise RuntimeError("server said no")


@pytest.mark.parametrize(("logger", "clause"), [(NoSummary, "no log_summary"),
                                                 (Raises, "RuntimeError: server said no")])
def test_the_kit_names_what_a_logger_breaks(tmp_path, logger, clause):
    with pytest.raises(ConformanceError) as info:
        check_logger(logger, tmp_path)
    assert clause in str(info.value), str(info.value)
