"""The one way a scored run is kept (scoring.record_scored_run): history, metrics and log, for the CLI and pages."""

from __future__ import annotations

import pandas as pd
import pytest

from don_predictor.scoring.record import record_scored_run
from don_predictor.services import metrics
from don_predictor.store.history import RunInfo
from don_predictor.store.history.store import count_runs, list_runs


def _results() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "hsi_id": ["a", "b", "c"],
            "status": ["ok", "ok", "not scored: column '3': missing value"],
            "rf_ppb": [400.0, 2500.0, float("nan")],
            "rf_verdict": ["below", "send_to_lab", ""],
        }
    )


def _count(counter, *labels) -> float:
    return counter.labels(*labels)._value.get()


def test_a_run_is_stored_counted_and_logged(tmp_path, caplog):
    db = str(tmp_path / "history.sqlite")
    below_before = _count(metrics.PREDICTIONS, "rf", "below")
    info = RunInfo("cli", {"rf": "v1"}, "lot7.csv", "f" * 64, "eu_unprocessed_maize")
    with caplog.at_level("INFO"):
        run_id = record_scored_run(db, _results(), "hsi_id", info, seconds=0.25)
    assert count_runs(db) == 1
    run = list_runs(db).iloc[0]
    assert run["run_id"] == run_id and run["file_name"] == "lot7.csv" and run["source"] == "cli"
    assert _count(metrics.PREDICTIONS, "rf", "below") == below_before + 1
    assert any(run_id in record.getMessage() and "scored" in record.getMessage() for record in caplog.records)


def test_a_history_that_cannot_be_written_is_counted_and_raised(tmp_path):
    blocked = tmp_path / "not_a_dir"
    blocked.write_text("a file where the database's folder should be")
    errors_before = _count(metrics.HISTORY_WRITE_ERRORS, "run")
    info = RunInfo("rf", {"rf": "v1"}, "x.csv", "0" * 64)
    with pytest.raises(Exception):  # noqa: B017 (whatever the database layer raises reaches the caller)
        record_scored_run(str(blocked / "history.sqlite"), _results(), "hsi_id", info, seconds=0.1)
    assert _count(metrics.HISTORY_WRITE_ERRORS, "run") == errors_before + 1
