"""The prediction history on a real SQLite file and on a real PostgreSQL server (tests/pg_server.py): the same tests
on both: runs, rows, filters, a new backend, concurrency (threads and processes), retention, backup."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pg_server import fresh_database
from sqlalchemy import func, select, text, update

from don_predictor.store.history import (
    HistoryError,
    RunInfo,
    backup_bytes,
    delete_older_than,
    engine,
    list_audit,
    list_runs,
    predictions_over_time,
    record_audit,
    record_run,
    results_since,
    run_rows,
)
from don_predictor.store.history import tables as t
from don_predictor.store.history.store import count_runs

ROOT = Path(__file__).resolve().parents[1]


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
            "rf_t2": np.append(rng.uniform(0, 10, n - 1), np.nan),
            "rf_verdict": ["below"] * (n - 2) + ["send_to_lab", ""],
            "rf_verdict_reason": ["under the threshold"] * (n - 2) + ["out of domain", ""],
        }
    )


INFO = RunInfo(
    source="compare", model_versions={"rf": "v1"}, file_name="a.csv", file_sha256="abc", limit_key="fda-1ppm"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    return tmp_path / "h.sqlite" if request.param == "sqlite" else fresh_database()


def test_a_run_keeps_every_row(db):
    results = results_frame(20)
    run_id = record_run(db, results, "hsi_id", INFO)
    runs = list_runs(db)
    assert runs["run_id"].tolist() == [run_id]
    assert runs.iloc[0][["rows_read", "rows_scored", "rows_rejected"]].tolist() == [20, 19, 1]
    assert abs(runs["created_utc"].iloc[0] - pd.Timestamp.now(tz=UTC)) < pd.Timedelta(minutes=1)  # a real timestamp
    rows = run_rows(db, run_id)
    assert rows["sample_id"].tolist() == results["hsi_id"].tolist()
    np.testing.assert_allclose(rows["rf_ppb"].to_numpy(dtype=float)[:19], results["rf_ppb"].to_numpy()[:19])
    np.testing.assert_allclose(rows["rf_t2"].to_numpy(dtype=float)[:19], results["rf_t2"].to_numpy()[:19])
    assert rows["rf_in_domain"].tolist()[-3:] == [True, False, pd.NA]
    assert rows["rf_verdict"].iloc[-2] == "send_to_lab" and pd.isna(rows["rf_verdict"].iloc[-1])
    assert rows["rf_verdict_reason"].iloc[-2] == "out of domain"  # a field without a column of its own
    assert "tf_ppb" not in rows.columns  # columns of backends that were not used are left out
    if isinstance(db, Path):  # readers go on while a run is written
        with sqlite3.connect(db) as connection:
            assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_new_backend_and_measured_values_need_no_schema_change(db):
    frame = results_frame(4).assign(pls_ppb=[1.0, 2.0, 3.0, None], pls_width=[9, 9, 9, None])
    frame["vomitoxin_ppb"] = [10.0, 20.0, None, 40.0]
    run_id = record_run(db, frame, "hsi_id", RunInfo("cli", {"rf": "v1", "pls": "p1"}, "a.csv", "abc"))
    rows = run_rows(db, run_id)
    assert rows["pls_ppb"].tolist()[:3] == [1.0, 2.0, 3.0] and rows["pls_width"].tolist()[:3] == [9, 9, 9]
    assert rows["vomitoxin_ppb"].tolist()[:2] == [10.0, 20.0]
    assert list_runs(db)["backends"].tolist() == ["rf,pls"] and len(list_runs(db, backend="pls")) == 1
    long = results_since(db, datetime.now(UTC) - timedelta(hours=1))
    assert sorted(long["backend"].unique()) == ["pls", "rf"] and long["measured_ppb"].notna().sum() == 2 * 3


def test_filters(db):
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
    # Times compare as times, whatever the offset they are given in.
    in_tokyo = tomorrow.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    assert list_runs(db, since=in_tokyo).empty and len(list_runs(db, until=in_tokyo)) == 2


def test_eight_threads_writing_at_once_lose_nothing(db):
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
    with engine(db).connect() as connection:
        assert connection.execute(select(func.count()).select_from(t.samples)).scalar() == 40 * 200
        assert connection.execute(select(func.count()).select_from(t.results)).scalar() == 40 * 200


WRITER = """
import sys
import numpy as np, pandas as pd
from don_predictor.store.history import RunInfo, record_run, record_audit
db = sys.argv[1]
db = db if "://" in db else __import__("pathlib").Path(db)
for k in range(6):
    frame = pd.DataFrame({"hsi_id": [f"p{k}-{i}" for i in range(300)], "status": ["ok"] * 300,
                          "rf_ppb": np.arange(300.0), "tf_ppb": np.arange(300.0)})
    record_run(db, frame, "hsi_id", RunInfo("cli", {"rf": "v1", "tf": "v1"}, "p.csv", "x"))
    record_audit(db, "start", None, {"k": k})
"""


def test_two_processes_writing_at_once_lose_nothing(db):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(db)], env=env, stderr=subprocess.PIPE) for _ in range(2)
    ]
    for process in writers:
        assert process.wait(timeout=120) == 0, process.stderr.read().decode()
    assert len(list_runs(db)) == 12 and len(list_audit(db)) == 12
    with engine(db).connect() as connection:
        assert connection.execute(select(func.count()).select_from(t.results)).scalar() == 12 * 300 * 2


def _age(db, run_id: str, days: int) -> None:
    with engine(db).begin() as connection:
        connection.execute(
            update(t.runs).where(t.runs.c.run_id == run_id).values(created_at=datetime.now(UTC) - timedelta(days=days))
        )


def _set_time(db, run_id: str, when: datetime) -> None:
    with engine(db).begin() as connection:
        connection.execute(update(t.runs).where(t.runs.c.run_id == run_id).values(created_at=when))


def test_runs_come_in_pages_newest_first_and_are_counted(db):
    now = datetime.now(UTC)
    ids = [record_run(db, results_frame(3, seed=i), "hsi_id", INFO) for i in range(5)]
    for age, run_id in enumerate(ids):  # ids[0] the newest
        _set_time(db, run_id, now - timedelta(minutes=age))
    tied = record_run(db, results_frame(3), "hsi_id", INFO)
    _set_time(db, tied, now - timedelta(minutes=2))  # the same time as ids[2]: still on exactly one page
    everything = list_runs(db)["run_id"].tolist()
    assert everything[:2] == ids[:2] and everything[-2:] == ids[3:] and set(everything[2:4]) == {ids[2], tied}
    pages = [list_runs(db, limit=2, offset=offset)["run_id"].tolist() for offset in (0, 2, 4)]
    assert pages == [everything[0:2], everything[2:4], everything[4:6]]
    assert list_runs(db, limit=4)["run_id"].tolist() == everything[:4]
    assert list_runs(db, offset=5)["run_id"].tolist() == everything[5:]
    assert list_runs(db, limit=2, offset=6).empty
    assert count_runs(db) == 6 and count_runs(db, backend="tf") == 0 and count_runs(db, verdict="send_to_lab") == 6
    assert count_runs(db, since=now - timedelta(seconds=90)) == len(list_runs(db, since=now - timedelta(seconds=90)))
    assert count_runs(db, since=now - timedelta(seconds=90)) == 2


def test_predictions_over_time_has_one_point_per_scored_row_and_backend(db):
    first = record_run(db, results_frame(4).assign(tf_ppb=[1.0, 2.0, None, 4.0]), "hsi_id", INFO)
    second = record_run(db, results_frame(3, seed=1), "hsi_id", INFO)
    old = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    _set_time(db, first, old)
    points = predictions_over_time(db, [first])
    assert list(points.columns) == ["time", "sample_id", "model", "ppb"]
    # RF: 3 of 4 rows have a prediction (the last is not scored); TF: 3 of 4 (one empty). Never a missing ppb.
    assert sorted(points.groupby("model").size().items()) == [("RF", 3), ("TF", 3)]
    assert points["ppb"].notna().all() and (points["time"] == pd.Timestamp(old)).all()
    rf = points[points["model"] == "RF"].sort_values("sample_id")
    expected = results_frame(4).set_index("hsi_id")["rf_ppb"].dropna()
    np.testing.assert_allclose(rf.set_index("sample_id")["ppb"].astype(float), expected.loc[rf["sample_id"]])
    both = predictions_over_time(db, [first, second])
    assert len(both) == 6 + 2 and set(both["sample_id"]) == {"s0", "s1", "s2", "s3"}
    assert predictions_over_time(db, []).empty and predictions_over_time(db, ["no such run"]).empty


def test_retention_deletes_only_old_runs(db):
    old = record_run(db, results_frame(3), "hsi_id", INFO)
    new = record_run(db, results_frame(3), "hsi_id", INFO)
    _age(db, old, 10)
    assert delete_older_than(db, 7) == 1
    assert list_runs(db)["run_id"].tolist() == [new]
    assert run_rows(db, old).empty and len(run_rows(db, new)) == 3
    with engine(db).connect() as connection:
        assert connection.execute(select(func.count()).select_from(t.results)).scalar() == 3


def test_backup_is_a_consistent_readable_sqlite_copy(db, tmp_path):
    run_id = record_run(db, results_frame(10), "hsi_id", INFO)
    record_audit(db, "login", "ann", {})
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(backup_bytes(db))
    assert list_runs(copy)["run_id"].tolist() == [run_id]
    assert run_rows(copy, run_id)["sample_id"].tolist() == [f"s{i}" for i in range(10)]
    assert list_audit(copy)["action"].tolist() == ["login"]


def test_audit_trail_newest_first(db):
    for action in ("start", "login", "activation"):
        record_audit(db, action, "ann", {"version": "v2"})
    trail = list_audit(db, limit=2)
    assert trail["action"].tolist() == ["activation", "login"] and '"v2"' in trail["detail"][0]


def test_newer_schema_is_refused(db):
    engine(db)
    with engine(db).begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'v99'"))
    from don_predictor.store.history import db as history_db

    history_db.dispose_all()  # a process that starts now
    with pytest.raises(HistoryError, match="newer version"):
        list_runs(db)


def test_a_pre_alembic_sqlite_file_with_a_newer_user_version_is_refused(tmp_path):
    db = tmp_path / "h.sqlite"
    with sqlite3.connect(db) as connection:
        connection.execute("PRAGMA user_version = 99")
    with pytest.raises(HistoryError, match="schema 99"):
        list_runs(db)


def test_a_file_that_is_not_a_database_is_a_plain_error(tmp_path):
    db = tmp_path / "h.sqlite"
    db.write_bytes(b"not a database at all" * 100)
    with pytest.raises(HistoryError, match="cannot be opened"):
        list_runs(db)


# The schema as versions 1 to 3 of the app wrote it (one column per backend and field; times as ISO strings).
_V3_FIELDS = ("ppb", "low_ppb", "high_ppb", "in_domain", "verdict")
_V3_SCHEMA = f"""
CREATE TABLE runs (run_id TEXT PRIMARY KEY, created_utc TEXT NOT NULL, user TEXT, source TEXT NOT NULL,
    backends TEXT NOT NULL, model_versions TEXT NOT NULL, limit_key TEXT, file_name TEXT, file_sha256 TEXT,
    rows_read INTEGER NOT NULL, rows_scored INTEGER NOT NULL, rows_rejected INTEGER NOT NULL);
CREATE INDEX runs_created ON runs (created_utc);
CREATE TABLE run_rows (run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE, position INTEGER NOT NULL,
    sample_id TEXT, status TEXT NOT NULL,
    {
    ", ".join(
        f"{b}_{f} {'TEXT' if f == 'verdict' else 'INTEGER' if f == 'in_domain' else 'REAL'}"
        for b in ("rf", "tf")
        for f in _V3_FIELDS
    )
},
    PRIMARY KEY (run_id, position));
"""
_V3_AUDIT = """
CREATE TABLE audit (event_id INTEGER PRIMARY KEY AUTOINCREMENT, created_utc TEXT NOT NULL, user TEXT,
    action TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX audit_created ON audit (created_utc);
"""


def _old_file(db: Path, version: int) -> None:
    with sqlite3.connect(db) as connection:
        connection.executescript(_V3_SCHEMA + (_V3_AUDIT if version >= 2 else "") + f"PRAGMA user_version = {version};")
        connection.execute(
            "INSERT INTO runs VALUES ('r1', '2026-01-01T10:00:00.250+02:00', 'ann', 'cli', 'rf,tf', '{\"rf\": \"v1\"}',"
            " NULL, 'a.csv', NULL, 2, 1, 1)"
        )
        connection.execute(
            "INSERT INTO run_rows (run_id, position, sample_id, status, rf_ppb, rf_in_domain, rf_verdict, tf_ppb)"
            " VALUES ('r1', 0, 's1', 'ok', 120.5, 1, 'inconclusive', 130.0), ('r1', 1, 's2', 'bad row', NULL, NULL,"
            " NULL, NULL)"
        )
        if version >= 2:
            connection.execute(
                "INSERT INTO audit (created_utc, user, action, detail) VALUES"
                " ('2026-01-02T00:00:00.000+00:00', 'bob', 'activation', '{\"version\": \"v1\"}')"
            )


@pytest.mark.parametrize("version", [1, 3])
def test_an_old_sqlite_history_is_carried_over(tmp_path, version):
    db = tmp_path / "old.sqlite"
    _old_file(db, version)
    runs = list_runs(db)
    assert runs["run_id"].tolist() == ["r1"] and runs["user"].tolist() == ["ann"]
    assert runs["created_utc"].iloc[0] == pd.Timestamp("2026-01-01T08:00:00.250", tz=UTC)  # +02:00 -> UTC
    rows = run_rows(db, "r1")
    assert rows["rf_verdict"].tolist()[0] == "send_to_lab"  # the old name, renamed
    assert rows["rf_ppb"].tolist()[0] == 120.5 and rows["tf_ppb"].tolist()[0] == 130.0
    assert rows["rf_in_domain"].tolist() == [True, pd.NA] and rows["status"].tolist() == ["ok", "bad row"]
    assert len(list_runs(db, since=datetime(2026, 1, 1, 8, tzinfo=UTC))) == 1
    assert list_runs(db, since=datetime(2026, 1, 1, 9, tzinfo=UTC)).empty
    record_audit(db, "activate", "ann", {"backend": "rf", "version": "v2"})
    trail = list_audit(db)
    assert trail["action"].tolist() == (["activate", "activation"] if version >= 2 else ["activate"])
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 4  # an older app refuses it now
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {
            "runs",
            "samples",
            "results",
            "audit",
            "jobs",
            "job_slots",
            "login_failures",
            "lab_worklists",
            "lab_picks",
            "lab_results",
            "lab_spectra",
            "alembic_version",
            "sqlite_sequence",
        }
    # retention works on the carried-over times
    assert delete_older_than(db, 1) == 1 and run_rows(db, "r1").empty


def test_a_database_url_setting_reaches_the_history(monkeypatch):
    from don_predictor.config import SettingsError, settings

    url = fresh_database()
    monkeypatch.setenv("DON_HISTORY_URL", url)
    assert settings().history_db == url
    record_run(settings().history_db, results_frame(3), "hsi_id", INFO)
    assert len(list_runs(url)) == 1
    monkeypatch.setenv("DON_HISTORY_URL", "mysql://root:secret@db/x")
    with pytest.raises(SettingsError, match="DON_HISTORY_URL") as error:
        settings()
    assert "secret" not in str(error.value)


def test_a_database_that_cannot_be_reached_is_a_plain_error_and_retention_at_start_skips_it():
    from don_predictor.store.history import apply_retention

    unreachable = "postgresql+psycopg://don@127.0.0.1:9/nowhere?connect_timeout=2"  # port 9: nothing listens
    with pytest.raises(HistoryError, match="cannot be opened"):
        list_runs(unreachable)
    assert apply_retention(unreachable, 30) == 0


def test_the_start_event_keeps_no_database_password(tmp_path, monkeypatch):
    from don_predictor.store.audit import audit

    monkeypatch.setenv("DON_HISTORY_DB", str(tmp_path / "h.sqlite"))
    audit("start", history_db="postgresql+psycopg://don:s3cret@db:5432/don", note="see https://example.org/a")
    detail = list_audit(tmp_path / "h.sqlite")["detail"][0]
    assert "s3cret" not in detail and "don:***@db:5432/don" in detail and "https://example.org/a" in detail


def test_a_history_that_cannot_be_created_is_a_plain_error(tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_text("not a directory")
    with pytest.raises(HistoryError, match="cannot be created"):
        list_runs(blocker / "history.sqlite")


def test_a_file_screened_again_by_the_same_models_counts_once_in_the_monitoring_window(db):
    """Re-screening a file at another limit records a second run (the history shows both), but the Monitoring
    window keeps its newest: the same spectra must not weigh twice in drift and domain shares."""
    at_1ppm = RunInfo("compare", {"rf": "v1"}, "lot.csv", "same-file", "1ppm")
    at_5ppm = RunInfo("compare", {"rf": "v1"}, "lot.csv", "same-file", "5ppm")
    by_v2 = RunInfo("compare", {"rf": "v2"}, "lot.csv", "same-file", "5ppm")
    record_run(db, results_frame(5), "hsi_id", at_1ppm)
    newest = record_run(db, results_frame(5).assign(rf_verdict=["above"] * 5), "hsi_id", at_5ppm)
    other_model = record_run(db, results_frame(5), "hsi_id", by_v2)
    assert count_runs(db) == 3
    window = results_since(db, datetime.now(UTC) - timedelta(hours=1))
    assert sorted(window["run_id"].unique()) == sorted([newest, other_model])
    assert (window.loc[window["run_id"] == newest, "verdict"] == "above").all()


def test_a_big_run_gives_evenly_spaced_points_for_the_plot(db):
    big = record_run(db, results_frame(1000), "hsi_id", INFO)
    small = record_run(db, results_frame(50, seed=1), "hsi_id", INFO)
    rf = predictions_over_time(db, [big], per_run=100).query("model == 'RF'")
    assert sorted(rf["sample_id"], key=lambda i: int(i[1:])) == [f"s{k}" for k in range(0, 1000, 10)]
    assert len(predictions_over_time(db, [small], per_run=100)) == 49  # a small run whole (its last row unscored)
    assert len(predictions_over_time(db, [big, small])) == 999 + 49  # no cap: every scored row
