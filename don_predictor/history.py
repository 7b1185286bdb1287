"""The prediction history: every scoring run and its rows in a SQLite database file.

WAL mode lets readers work while a run is written; each run is written in one IMMEDIATE transaction with a busy
timeout, so concurrent sessions queue for the write lock instead of failing with "database is locked".
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

SCHEMA_VERSION = 3
BUSY_TIMEOUT_S = 30.0
TRUST_FIELDS = ("ppb", "low_ppb", "high_ppb", "in_domain", "verdict")
HISTORY_BACKENDS = ("rf", "tf")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created_utc TEXT NOT NULL,
    user TEXT,
    source TEXT NOT NULL,
    backends TEXT NOT NULL,
    model_versions TEXT NOT NULL,
    limit_key TEXT,
    file_name TEXT,
    file_sha256 TEXT,
    rows_read INTEGER NOT NULL,
    rows_scored INTEGER NOT NULL,
    rows_rejected INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created_utc);
CREATE TABLE IF NOT EXISTS run_rows (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    sample_id TEXT,
    status TEXT NOT NULL,
    {
    ", ".join(
        f"{b}_{f} {'TEXT' if f == 'verdict' else 'INTEGER' if f == 'in_domain' else 'REAL'}"
        for b in HISTORY_BACKENDS
        for f in TRUST_FIELDS
    )
},
    PRIMARY KEY (run_id, position)
);
"""

# Version 2 adds the audit trail: who activated, rolled back, imported, exported, logged in or failed to, and when.
_AUDIT = """
CREATE TABLE IF NOT EXISTS audit (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_utc TEXT NOT NULL,
    user TEXT,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_created ON audit (created_utc);
"""

# Version 3: the verdict "inconclusive" is now "send_to_lab" (it says what to do); old rows are renamed so the
# History page's verdict filter finds them.
_RENAME_INCONCLUSIVE = "".join(
    f"UPDATE run_rows SET {b}_verdict = 'send_to_lab' WHERE {b}_verdict = 'inconclusive';" for b in HISTORY_BACKENDS
)


class HistoryError(RuntimeError):
    """The history database cannot be used (a newer schema, a broken file)."""


@dataclass(frozen=True)
class RunInfo:
    source: str  # the page or "cli"
    model_versions: dict[str, str]  # backend -> version
    file_name: str
    file_sha256: str
    limit_key: str | None = None
    user: str | None = None


@contextmanager
def connect(db_path: str | Path) -> Iterator[sqlite3.Connection]:
    path = Path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        connection.execute("PRAGMA foreign_keys = ON")
        _ensure_schema(connection)
        yield connection
    finally:
        connection.close()


def _ensure_schema(connection: sqlite3.Connection) -> None:
    """Create the tables on first use; refuse a database written by a newer version of the app."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise HistoryError(f"the history database has schema {version}; this app knows up to {SCHEMA_VERSION}")
    if version < SCHEMA_VERSION:
        connection.execute("PRAGMA journal_mode = WAL")  # persistent: set once, when the file is created
        # Every step is CREATE ... IF NOT EXISTS, so a version-1 file gains the audit table and keeps its runs.
        connection.executescript(_SCHEMA + _AUDIT + _RENAME_INCONCLUSIVE + f"PRAGMA user_version = {SCHEMA_VERSION};")


def record_run(db_path: str | Path, results: pd.DataFrame, id_column: str, info: RunInfo) -> str:
    """Store one scoring run and every row of its results; returns the run id."""
    run_id = uuid.uuid4().hex
    scored = int((results["status"] == "ok").sum())
    backends = [b for b in HISTORY_BACKENDS if f"{b}_ppb" in results]
    run = (
        run_id,
        datetime.now(UTC).isoformat(timespec="milliseconds"),
        info.user,
        info.source,
        ",".join(backends),
        json.dumps(info.model_versions, sort_keys=True),
        info.limit_key,
        info.file_name,
        info.file_sha256,
        len(results),
        scored,
        len(results) - scored,
    )
    columns = {"sample_id": results[id_column].astype(str), "status": results["status"]}
    for backend in HISTORY_BACKENDS:
        for field in TRUST_FIELDS:
            name = f"{backend}_{field}"
            values = results[name] if name in results else pd.Series([None] * len(results))
            columns[name] = _plain(values, field)
    frame = pd.DataFrame(columns)
    rows = [(run_id, i, *values) for i, values in enumerate(frame.itertuples(index=False, name=None))]
    placeholders = ", ".join("?" * (len(frame.columns) + 2))
    with connect(db_path) as connection:
        connection.execute("BEGIN IMMEDIATE")  # take the write lock now, waiting up to the busy timeout
        try:
            connection.execute(f"INSERT INTO runs VALUES ({', '.join('?' * len(run))})", run)
            connection.executemany(f"INSERT INTO run_rows VALUES ({placeholders})", rows)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    return run_id


def _plain(values: pd.Series, field: str) -> list:
    """Python values SQLite stores: None for missing, ints for flags, floats and strings as they are."""
    out = []
    for value in values.tolist():
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) or value == "":
            out.append(None)
        elif field == "in_domain":
            out.append(int(bool(value)))
        elif field == "verdict":
            out.append(str(value))
        else:
            out.append(float(value))
    return out


def list_runs(
    db_path: str | Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    backend: str | None = None,
    model_version: str | None = None,
    verdict: str | None = None,
) -> pd.DataFrame:
    """Runs, newest first, filtered by time, backend, model version and 'has a row with this verdict'."""
    where, params = [], []
    if since:
        where.append("created_utc >= ?")
        params.append(since.astimezone(UTC).isoformat())
    if until:
        where.append("created_utc < ?")
        params.append(until.astimezone(UTC).isoformat())
    if backend:
        where.append("(',' || backends || ',') LIKE ?")
        params.append(f"%,{backend},%")
    if model_version:
        where.append("model_versions LIKE ?")
        params.append(f'%"{model_version}"%')
    if verdict:
        checks = " OR ".join(f"r.{b}_verdict = ?" for b in HISTORY_BACKENDS)
        where.append(f"EXISTS (SELECT 1 FROM run_rows r WHERE r.run_id = runs.run_id AND ({checks}))")
        params.extend([verdict] * len(HISTORY_BACKENDS))
    query = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created_utc DESC"
    with connect(db_path) as connection:
        return pd.read_sql_query(query, connection, params=params)


def run_rows(db_path: str | Path, run_id: str) -> pd.DataFrame:
    with connect(db_path) as connection:
        rows = pd.read_sql_query(
            "SELECT * FROM run_rows WHERE run_id = ? ORDER BY position", connection, params=[run_id]
        )
    return rows.dropna(axis=1, how="all")


def delete_older_than(db_path: str | Path, days: int) -> int:
    """Delete runs (and their rows) older than `days` days; returns how many runs went."""
    cutoff = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    with connect(db_path) as connection:
        connection.execute("BEGIN IMMEDIATE")
        deleted = connection.execute("DELETE FROM runs WHERE created_utc < ?", [cutoff]).rowcount
        connection.execute("COMMIT")
    return deleted


def backup_bytes(db_path: str | Path) -> bytes:
    """A consistent copy of the whole database (SQLite's online backup API), as bytes to download."""
    with tempfile.TemporaryDirectory() as tmp, connect(db_path) as source:
        copy_path = Path(tmp) / "history.sqlite"
        target = sqlite3.connect(copy_path)
        try:
            source.backup(target)
        finally:
            target.close()
        return copy_path.read_bytes()


def predictions_over_time(db_path: str | Path, run_ids: list[str]) -> pd.DataFrame:
    """One row per (run, sample, backend) with the run's time and the prediction: for a plot over time."""
    if not run_ids:
        return pd.DataFrame(columns=["time", "sample_id", "model", "ppb"])
    marks = ", ".join("?" * len(run_ids))
    selects = " UNION ALL ".join(
        f"SELECT runs.created_utc AS time, r.sample_id, '{b.upper()}' AS model, r.{b}_ppb AS ppb "
        f"FROM run_rows r JOIN runs USING (run_id) WHERE r.run_id IN ({marks}) AND r.{b}_ppb IS NOT NULL"
        for b in HISTORY_BACKENDS
    )
    with connect(db_path) as connection:
        return pd.read_sql_query(selects, connection, params=run_ids * len(HISTORY_BACKENDS))


def record_audit(db_path: str | Path, action: str, user: str | None, detail: dict) -> None:
    """One audit event: an activation, a rollback, an import or export, a login or a failed one, a start."""
    row = (datetime.now(UTC).isoformat(timespec="milliseconds"), user, action, json.dumps(detail, default=str))
    with connect(db_path) as connection:
        connection.execute("INSERT INTO audit (created_utc, user, action, detail) VALUES (?, ?, ?, ?)", row)


def list_audit(db_path: str | Path, limit: int = 200) -> pd.DataFrame:
    """The newest audit events first."""
    with connect(db_path) as connection:
        return pd.read_sql_query(
            "SELECT created_utc, user, action, detail FROM audit ORDER BY event_id DESC LIMIT ?",
            connection,
            params=[limit],
        )
