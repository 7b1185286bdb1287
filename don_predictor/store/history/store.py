"""Writing and reading runs, their rows and the audit trail. Every function takes the history's location: a SQLite
file path, or a database URL (`settings().history_db` is whichever DON_HISTORY_URL / DON_HISTORY_DB say)."""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, delete, exists, func, insert, literal, select
from sqlalchemy.exc import SQLAlchemyError

from don_predictor.config import BACKENDS, TARGET_COLUMN
from don_predictor.store.history import tables as t
from don_predictor.store.history.db import HistoryError, engine, history_url, writing

TRUST_FIELDS = t.RESULT_FIELDS
_NUMERIC = ("ppb", "low_ppb", "high_ppb", "t2", "q", "baseline")
_CHUNK = 5000  # rows per INSERT batch: bounded memory for a 100,000-row upload


def plain_errors(function):
    """A database that went away mid-use is a HistoryError with one plain line, like one that cannot be opened."""

    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except SQLAlchemyError as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()
            raise HistoryError(
                f"the history database cannot be used: {reason[0] if reason else type(error).__name__}"
            ) from error

    return wrapped


@dataclass(frozen=True)
class RunInfo:
    source: str  # the page or "cli"
    model_versions: dict[str, str]  # backend -> version
    file_name: str
    file_sha256: str
    limit_key: str | None = None
    user: str | None = None


def _backends_of(results: pd.DataFrame, info: RunInfo, id_column: str) -> list[str]:
    """The backends with predictions in this frame: the known ones and any the run names (a new backend needs no
    schema change)."""
    candidates = dict.fromkeys([*BACKENDS, *info.model_versions])
    return [b for b in candidates if f"{b}_ppb" in results.columns and f"{b}_ppb" != id_column]


@plain_errors
def record_run(
    db_path: str | Path,
    results: pd.DataFrame,
    id_column: str,
    info: RunInfo,
    measured: pd.Series | None = None,
    created_at: datetime | None = None,
) -> str:
    """Store one scoring run and every row of its results; returns the run id. `measured` (or the results'
    vomitoxin_ppb column) holds reference values, when the upload had them. `created_at`: the run's time (now
    when not given), so a caller knows the time it stored without reading it back."""
    run_id = uuid.uuid4().hex
    n = len(results)
    scored = int((results["status"] == "ok").sum())
    backends = _backends_of(results, info, id_column)
    if measured is None and TARGET_COLUMN in results.columns and TARGET_COLUMN != id_column:
        measured = results[TARGET_COLUMN]
    run = {
        "run_id": run_id,
        "created_at": created_at or t.utc_now(),
        "user_name": info.user,
        "source": info.source,
        "backends": ",".join(backends),
        "model_versions": json.dumps(info.model_versions, sort_keys=True),
        "limit_key": info.limit_key,
        "file_name": info.file_name,
        "file_sha256": info.file_sha256,
        "rows_read": n,
        "rows_scored": scored,
        "rows_rejected": n - scored,
    }
    sample_rows = _sample_rows(run_id, results, id_column, measured)
    result_rows = [row for backend in backends for row in _result_rows(run_id, results, backend, id_column)]
    with writing(db_path) as connection:
        connection.execute(insert(t.runs), [run])
        _bulk_insert(connection, t.samples, sample_rows)
        _bulk_insert(connection, t.results, result_rows)
    return run_id


def _bulk_insert(connection, table, rows: list[tuple]) -> None:
    """Rows as tuples in the table's column order, through the driver: PostgreSQL's COPY, SQLite's executemany.
    (SQLAlchemy's per-row parameter handling took most of the time of a 10,000-row run.)"""
    names = [c.name for c in table.columns]
    cursor = connection.connection.driver_connection.cursor()
    try:
        if connection.dialect.name == "postgresql":
            with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(names))
            for start in range(0, len(rows), _CHUNK):
                cursor.executemany(f"INSERT INTO {table.name} VALUES ({marks})", rows[start : start + _CHUNK])
    finally:
        cursor.close()


def _sample_rows(run_id: str, results: pd.DataFrame, id_column: str, measured: pd.Series | None) -> list[tuple]:
    n = len(results)
    ids = results[id_column].astype(str).tolist()
    statuses = results["status"].astype(str).tolist()
    values = _floats(measured) if measured is not None else [None] * n
    return list(zip([run_id] * n, range(n), ids, statuses, values, strict=True))


def _result_rows(run_id: str, results: pd.DataFrame, backend: str, id_column: str) -> list[tuple]:
    n = len(results)
    prefix = f"{backend}_"
    columns: list[list] = []
    for field in TRUST_FIELDS:
        raw = results[prefix + field] if prefix + field in results.columns else None
        if raw is None:
            columns.append([None] * n)
        elif field in ("in_domain", "verdict"):
            kind = bool if field == "in_domain" else str
            columns.append([None if _missing(v) else kind(v) for v in raw.tolist()])
        else:
            columns.append(_floats(raw))
    known = {prefix + f for f in TRUST_FIELDS}
    extra_names = [c for c in results.columns if c.startswith(prefix) and c not in known and c != id_column]
    return list(
        zip([run_id] * n, range(n), [backend] * n, *columns, _extras(results, extra_names, prefix), strict=True)
    )


def _extras(results: pd.DataFrame, names: list[str], prefix: str) -> list[str | None]:
    """Per row, a JSON object of the other fields; each distinct value is encoded once (reasons repeat a lot)."""
    if not names:
        return [None] * len(results)
    fragments = []
    for name in names:
        key = json.dumps(name[len(prefix) :])
        encoded = {v: f"{key}: {json.dumps(_jsonable(v))}" for v in results[name].dropna().unique() if v != ""}
        fragments.append([encoded.get(v) if not _missing(v) else None for v in results[name].tolist()])
    return ["{" + ", ".join(f for f in row if f is not None) + "}" for row in zip(*fragments, strict=True)]


def _missing(value) -> bool:
    return value is None or value is pd.NA or value == "" or (isinstance(value, float) and np.isnan(value))


def _floats(values: pd.Series) -> list:
    numbers = pd.to_numeric(pd.Series(values), errors="coerce").astype(float).to_numpy()
    out = numbers.astype(object)
    out[np.isnan(numbers)] = None
    return out.tolist()


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def _run_filters(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    backend: str | None = None,
    model_version: str | None = None,
    verdict: str | None = None,
    user: str | None = None,
) -> list:
    """The conditions of list_runs' and count_runs' filters (`user`: only that user's runs)."""
    r = t.runs
    conditions = [] if user is None else [r.c.user_name == user]
    if since:
        conditions.append(r.c.created_at >= since)
    if until:
        conditions.append(r.c.created_at < until)
    if backend:
        conditions.append((literal(",") + r.c.backends + literal(",")).like(f"%,{backend},%"))
    if model_version:
        conditions.append(r.c.model_versions.like(f'%"{model_version}"%'))
    if verdict:
        res = t.results
        conditions.append(exists().where(and_(res.c.run_id == r.c.run_id, res.c.verdict == verdict)))
    return conditions


@plain_errors
def list_runs(db_path: str | Path, *, limit: int | None = None, offset: int = 0, **filters) -> pd.DataFrame:
    """Runs, newest first, filtered by time (`since`, `until`), `backend`, `model_version` and `verdict` ('has a row
    with this verdict'). `created_utc` is an aware UTC timestamp; `user` is who ran it. `limit` and `offset` give one
    page of them (no limit: every run); `count_runs` says how many match."""
    r = t.runs
    query = select(
        r.c.run_id,
        r.c.created_at.label("created_utc"),
        r.c.user_name.label("user"),
        *[c for c in r.c if c.name not in ("run_id", "created_at", "user_name")],
    )
    query = query.where(*_run_filters(**filters))
    query = query.order_by(r.c.created_at.desc(), r.c.run_id.desc())  # the run id breaks ties: stable pages
    if limit is not None:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    with engine(db_path).connect() as connection:
        frame = _frame(connection, query)
    frame["created_utc"] = pd.to_datetime(frame["created_utc"], utc=True)
    return frame


@plain_errors
def count_runs(db_path: str | Path, **filters) -> int:
    """How many runs list_runs gives for these filters, without reading them: the number of pages."""
    query = select(func.count()).select_from(t.runs).where(*_run_filters(**filters))
    with engine(db_path).connect() as connection:
        return int(connection.execute(query).scalar_one())


@plain_errors
def run_rows(db_path: str | Path, run_id: str) -> pd.DataFrame:
    """A run's rows in input order, one column per backend and field (`rf_ppb`, `tf_verdict`, ...), as scored;
    columns that are empty for every row are left out."""
    s, res = t.samples, t.results
    with engine(db_path).connect() as connection:
        rows = pd.DataFrame(
            connection.execute(select(s).where(s.c.run_id == run_id).order_by(s.c.position)).mappings().all(),
            columns=[c.name for c in s.c],
        )
        per_backend = pd.DataFrame(
            connection.execute(select(res).where(res.c.run_id == run_id)).mappings().all(),
            columns=[c.name for c in res.c],
        )
    rows = rows.rename(columns={"measured_ppb": TARGET_COLUMN})
    for backend, part in per_backend.groupby("backend", sort=False):
        part = part.set_index("position").reindex(rows["position"])
        for field in TRUST_FIELDS:
            values = part[field].to_numpy()
            rows[f"{backend}_{field}"] = pd.array(values, dtype="boolean") if field == "in_domain" else values
        extras = [json.loads(e) if isinstance(e, str) else {} for e in part["extra"]]
        for name in dict.fromkeys(k for e in extras for k in e):
            rows[f"{backend}_{name}"] = [e.get(name) for e in extras]
    return rows.dropna(axis=1, how="all")


@plain_errors
def results_since(
    db_path: str | Path, since: datetime, until: datetime | None = None, limit: int = 300_000
) -> pd.DataFrame:
    """One row per (run, row, backend) of the runs in [since, until), the newest runs up to about `limit` rows (a
    page must not read a year of a busy lab into memory): the run's time and versions, the row's status and
    measured value, and the backend's results. The Monitoring page's input.

    A file scored again by the same model versions (at another limit, or uploaded twice) counts once, by its newest
    run: the same spectra twice would double their weight in the drift, the domain shares and the live error."""
    r, s, res = t.runs, t.samples, t.results
    in_window = [r.c.created_at >= since] + ([r.c.created_at < until] if until else [])
    runs_query = (
        select(r.c.run_id, r.c.created_at, r.c.model_versions, r.c.rows_read, r.c.backends, r.c.file_sha256)
        .where(*in_window)
        .order_by(r.c.created_at.desc(), r.c.run_id.desc())
    )
    rows_query = (
        select(s.c.run_id, s.c.status, s.c.measured_ppb, *[c for c in res.c if c.name != "run_id"])
        .join(res, and_(res.c.run_id == s.c.run_id, res.c.position == s.c.position))
        .join(r, r.c.run_id == s.c.run_id)
    )
    with engine(db_path).connect() as connection:
        runs = _frame(connection, runs_query)
        if runs.empty:
            columns = [c.name for c in rows_query.selected_columns if c.name not in ("position", "extra")]
            return pd.DataFrame(columns=["run_id", "created_at", "model_versions", *columns, "in_training"])
        # The newest runs whose rows fit the limit; the rows are then read by time range (no list of run ids), so
        # the cut-off counts every run in that range, repeats too: they are read before being left out.
        sizes = runs["rows_read"] * runs["backends"].str.count(",").add(1)
        kept = runs[(sizes.cumsum() <= limit) | (runs.index == 0)]
        oldest = kept["created_at"].iloc[-1]
        kept = kept.drop_duplicates(["file_sha256", "model_versions"])
        rows = _frame(connection, rows_query.where(r.c.created_at >= oldest, *in_window[1:]))
    frame = rows.merge(kept[["run_id", "created_at", "model_versions"]], on="run_id")
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    for name in ("measured_ppb", *_NUMERIC):  # a column empty in every row comes back as None objects, not NaN
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    # The app marks a model's own training spectra in the row's extra fields (Monitoring leaves them out of drift).
    frame["in_training"] = frame["extra"].fillna("").str.contains('"in_training": true', regex=False)
    return frame.drop(columns=["position", "extra"])


def _frame(connection, query) -> pd.DataFrame:
    # Plain tuples: pandas probing SQLAlchemy Row objects for attributes cost more than reading the rows.
    rows = [tuple(row) for row in connection.execute(query)]
    return pd.DataFrame.from_records(rows, columns=[c.name for c in query.selected_columns])


@plain_errors
def delete_older_than(db_path: str | Path, days: int) -> int:
    """Delete runs (and their rows) older than `days` days; returns how many runs went."""
    cutoff = t.utc_now() - timedelta(days=days)
    with writing(db_path) as connection:
        old = select(t.runs.c.run_id).where(t.runs.c.created_at < cutoff).scalar_subquery()
        # Children first: the same result on every database, with or without cascading foreign keys.
        for child in (*t.LAB_ROW_TABLES, t.lab_worklists, t.results):
            connection.execute(delete(child).where(child.c.run_id.in_(old)))
        connection.execute(delete(t.samples).where(t.samples.c.run_id.in_(old)))
        return connection.execute(delete(t.runs).where(t.runs.c.created_at < cutoff)).rowcount


@plain_errors
def backup_bytes(db_path: str | Path) -> bytes:
    """A consistent copy of the whole history as a SQLite file, to download. On SQLite: the online backup API.
    On PostgreSQL: every table copied in one repeatable-read snapshot into a new SQLite file, which the app opens
    as DON_HISTORY_DB (for a full server backup, use pg_dump: see the README)."""
    url = history_url(db_path)
    with tempfile.TemporaryDirectory() as tmp:
        copy_path = Path(tmp) / "history.sqlite"
        if url.get_backend_name() == "sqlite":
            engine(db_path)  # migrated first
            source, target = sqlite3.connect(url.database), sqlite3.connect(copy_path)
            try:
                source.backup(target)
            finally:
                source.close()
                target.close()
        else:
            _copy_into_sqlite(db_path, copy_path)
        return copy_path.read_bytes()


def _copy_into_sqlite(db_path: str | Path, copy_path: Path) -> None:
    with engine(db_path).connect() as source:
        source.execution_options(isolation_level="REPEATABLE READ")
        with source.begin(), writing(copy_path) as target:
            for table in (t.runs, t.samples, t.results, t.audit, t.lab_worklists, *t.LAB_ROW_TABLES):
                for batch in source.execute(select(table)).mappings().partitions(_CHUNK):
                    target.execute(insert(table), [dict(row) for row in batch])


@plain_errors
def predictions_over_time(
    db_path: str | Path, run_ids: list[str], per_run: int | None = None, with_trust: bool = False
) -> pd.DataFrame:
    """One row per (run, sample, backend) with the run's time and the prediction: for a plot over time. With
    `with_trust`, also `in_domain` (the spectrum was in the calibration domain; None when the model has no domain
    check), so the plot can mark predictions that are not trusted. With `per_run`, a big run gives about that many
    samples, evenly spaced through its file (every k-th row): a page of fifty 5,000-row runs would otherwise send
    half a million points to the browser."""
    columns = ["time", "sample_id", "model", "ppb"] + (["in_domain"] if with_trust else [])
    if not run_ids:
        return pd.DataFrame(columns=columns)
    r, s, res = t.runs, t.samples, t.results
    selected = [r.c.created_at.label("time"), s.c.sample_id, func.upper(res.c.backend).label("model"), res.c.ppb]
    query = (
        select(*selected, *([res.c.in_domain] if with_trust else []))
        .join(s, s.c.run_id == r.c.run_id)
        .join(res, and_(res.c.run_id == s.c.run_id, res.c.position == s.c.position))
        .where(r.c.run_id.in_(run_ids), res.c.ppb.is_not(None))
    )
    if per_run:  # integer division and % work alike on SQLite and PostgreSQL
        every = case((r.c.rows_read > per_run, r.c.rows_read / per_run), else_=1)
        query = query.where(s.c.position % every == 0)
    with engine(db_path).connect() as connection:
        frame = _frame(connection, query)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


@plain_errors
def record_audit(
    db_path: str | Path, action: str, user: str | None, detail: dict, when: datetime | None = None
) -> None:
    """One audit event: an activation, a rollback, an import or export, a login or a failed one, a start."""
    detail_json = json.dumps(detail, default=str)
    row = {"created_at": when or t.utc_now(), "user_name": user, "action": action, "detail": detail_json}
    with writing(db_path) as connection:
        connection.execute(insert(t.audit), [row])


@plain_errors
def list_audit(db_path: str | Path, limit: int = 200) -> pd.DataFrame:
    """The newest audit events first."""
    a = t.audit
    query = (
        select(a.c.created_at.label("created_utc"), a.c.user_name.label("user"), a.c.action, a.c.detail)
        .order_by(a.c.event_id.desc())
        .limit(limit)
    )
    with engine(db_path).connect() as connection:
        frame = _frame(connection, query)
    frame["created_utc"] = pd.to_datetime(frame["created_utc"], utc=True)
    return frame


def apply_retention(db_path: str | Path, days: int) -> int:
    """delete_older_than at start: a database that cannot be reached is logged and skipped, never a crash."""
    if not days:
        return 0
    try:
        return delete_older_than(db_path, days)
    except HistoryError as error:
        from don_predictor.logs import event

        event("retention_skipped", logging.ERROR, error=str(error))
        return 0
