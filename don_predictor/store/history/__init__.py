"""The prediction history: every scoring run, its rows and per-backend results, and the audit trail, in a SQLite
file (the default) or a PostgreSQL database (DON_HISTORY_URL), through SQLAlchemy with Alembic migrations."""

from don_predictor.store.history.db import SCHEMA_VERSION, HistoryError, describe, engine, head_revision
from don_predictor.store.history.store import (
    TRUST_FIELDS,
    RunInfo,
    apply_retention,
    backup_bytes,
    delete_older_than,
    list_audit,
    list_runs,
    predictions_over_time,
    record_audit,
    record_run,
    results_since,
    run_rows,
)

__all__ = [
    "SCHEMA_VERSION",
    "TRUST_FIELDS",
    "HistoryError",
    "RunInfo",
    "apply_retention",
    "backup_bytes",
    "delete_older_than",
    "describe",
    "engine",
    "head_revision",
    "list_audit",
    "list_runs",
    "predictions_over_time",
    "record_audit",
    "record_run",
    "results_since",
    "run_rows",
]
