"""The prediction history in a real SQLite file: runs, rows, filters, concurrency, retention, backup."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from don_predictor.history import (
    SCHEMA_VERSION,
    RunInfo,
    backup_bytes,
    delete_older_than,
    list_audit,
    list_runs,
    record_audit,
    record_run,
    run_rows,
)


def results_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ppb = rng.uniform(0, 5000, n)
    return pd.DataFrame(
        {
            "hsi_id": [f"s{i}" for i in range(n)],
            "status": ["ok"] * (n - 1) + ["not scored: column '3': missing value"],
            "rf_ppb": np.append(ppb[:-1], np.nan),
            "rf_low_ppb": np.append(ppb[:-1] * 0.5, np.nan),
            "rf_high_ppb": np.append(ppb[:-1] * 2, np.nan),
            "rf_in_domain": pd.array([True] * (n - 2) + [False, pd.NA], dtype="boolean"),
            "rf_verdict": ["below"] * (n - 2) + ["send_to_lab", ""],
        }
    )


INFO = RunInfo(
    source="compare", model_versions={"rf": "v1"}, file_name="a.csv", file_sha256="abc", limit_key="fda-1ppm"
)


def test_a_run_keeps_every_row(tmp_path):
    db = tmp_path / "h.sqlite"
    results = results_frame(20)
    run_id = record_run(db, results, "hsi_id", INFO)
    runs = list_runs(db)
    assert runs["run_id"].tolist() == [run_id]
    assert runs.iloc[0][["rows_read", "rows_scored", "rows_rejected"]].tolist() == [20, 19, 1]
    rows = run_rows(db, run_id)
    assert rows["sample_id"].tolist() == results["hsi_id"].tolist()
    np.testing.assert_allclose(rows["rf_ppb"].to_numpy()[:19], results["rf_ppb"].to_numpy()[:19])
    assert rows["rf_verdict"].iloc[-2] == "send_to_lab" and pd.isna(rows["rf_verdict"].iloc[-1])
    assert "tf_ppb" not in rows.columns  # columns of backends that were not used are left out
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_filters(tmp_path):
    db = tmp_path / "h.sqlite"
    first = record_run(db, results_frame(5), "hsi_id", INFO)
    second = record_run(
        db,
        results_frame(5).assign(rf_verdict=["above"] * 4 + [""]),
        "hsi_id",
        RunInfo(source="cli", model_versions={"rf": "v2"}, file_name="b.csv", file_sha256="def"),
    )
    assert list_runs(db, model_version="v2")["run_id"].tolist() == [second]
    assert list_runs(db, verdict="above")["run_id"].tolist() == [second]
    assert list_runs(db, verdict="below")["run_id"].tolist() == [first]
    assert list_runs(db, backend="tf").empty and len(list_runs(db, backend="rf")) == 2
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert list_runs(db, since=tomorrow).empty and len(list_runs(db, until=tomorrow)) == 2


def test_eight_threads_writing_at_once_lose_nothing(tmp_path):
    db = tmp_path / "h.sqlite"
    errors, ids = [], []

    def writer(seed: int) -> None:
        try:
            for k in range(5):
                ids.append(record_run(db, results_frame(200, seed * 10 + k), "hsi_id", INFO))
        except Exception as error:  # collected: an assertion in a thread would be lost
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    runs = list_runs(db)
    assert len(runs) == 40 and set(runs["run_id"]) == set(ids)
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM run_rows").fetchone()[0] == 40 * 200


def test_retention_deletes_only_old_runs(tmp_path):
    db = tmp_path / "h.sqlite"
    old = record_run(db, results_frame(3), "hsi_id", INFO)
    new = record_run(db, results_frame(3), "hsi_id", INFO)
    with sqlite3.connect(db) as connection:
        ten_days_ago = (datetime.now(UTC) - timedelta(days=10)).isoformat()
        connection.execute("UPDATE runs SET created_utc = ? WHERE run_id = ?", [ten_days_ago, old])
    assert delete_older_than(db, 7) == 1
    assert list_runs(db)["run_id"].tolist() == [new]
    assert run_rows(db, old).empty


def test_backup_is_a_consistent_readable_copy(tmp_path):
    db = tmp_path / "h.sqlite"
    record_run(db, results_frame(10), "hsi_id", INFO)
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(backup_bytes(db))
    assert len(list_runs(copy)) == 1


def test_newer_schema_is_refused(tmp_path):
    db = tmp_path / "h.sqlite"
    with sqlite3.connect(db) as connection:
        connection.execute("PRAGMA user_version = 99")
    from don_predictor.history import HistoryError

    with pytest.raises(HistoryError, match="schema 99"):
        list_runs(db)


def test_a_version_1_history_gains_the_audit_table_keeps_its_runs_and_renames_verdicts(tmp_path):
    from don_predictor.history import _SCHEMA

    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as connection:  # the schema as version 1 of the app wrote it
        connection.executescript(_SCHEMA + "PRAGMA user_version = 1;")
        connection.execute(
            "INSERT INTO runs VALUES ('r1', '2026-01-01T00:00:00+00:00', 'ann', 'cli', 'rf', '{}', NULL, 'a.csv',"
            " NULL, 1, 1, 0)"
        )
        connection.execute(
            "INSERT INTO run_rows (run_id, position, sample_id, status, rf_verdict) VALUES "
            "('r1', 0, 's1', 'ok', 'inconclusive')"
        )
    record_audit(db, "activate", "ann", {"backend": "rf", "version": "v2"})
    assert list_runs(db)["run_id"].tolist() == ["r1"]
    assert run_rows(db, "r1")["rf_verdict"].tolist() == ["send_to_lab"]  # the old name, renamed
    trail = list_audit(db)
    assert trail[["user", "action"]].values.tolist() == [["ann", "activate"]] and '"v2"' in trail["detail"][0]
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
