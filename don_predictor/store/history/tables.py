"""The history's tables (schema 7). A new backend or a new per-row field changes no table: results are one row per
(run, row, backend), and fields beyond the common ones go to `extra` as JSON."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out. PostgreSQL keeps a timestamptz; SQLite keeps one fixed-format UTC string, so
    comparing them as strings compares them as times."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("history timestamps must carry a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("user_name", String(200)),
    Column("source", String(100), nullable=False),
    Column("backends", String(200), nullable=False),  # comma-separated, for the list view and its filter
    Column("model_versions", Text, nullable=False),  # JSON: backend -> version
    Column("limit_key", String(100)),
    Column("file_name", Text),
    Column("file_sha256", String(64)),
    Column("rows_read", Integer, nullable=False),
    Column("rows_scored", Integer, nullable=False),
    Column("rows_rejected", Integer, nullable=False),
    Index("ix_runs_created_at", "created_at"),
)

samples = Table(
    "samples",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("sample_id", Text),
    Column("status", Text, nullable=False),
    Column("measured_ppb", Float),  # the reference value, when the upload carried one: the model's live error
    ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE"),
)

# The fields every backend has today, as typed columns the Monitoring and History pages query.
RESULT_FIELDS = ("ppb", "low_ppb", "high_ppb", "in_domain", "verdict", "t2", "q", "baseline")

results = Table(
    "results",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("backend", String(32), primary_key=True),
    Column("ppb", Float),
    Column("low_ppb", Float),
    Column("high_ppb", Float),
    Column("in_domain", Boolean),
    Column("verdict", String(32)),
    Column("t2", Float),
    Column("q", Float),
    Column("baseline", Float),
    Column("extra", Text),  # JSON of any other per-row field of this backend (the verdict's reason, ...)
    ForeignKeyConstraint(["run_id", "position"], ["samples.run_id", "samples.position"], ondelete="CASCADE"),
)

audit = Table(
    "audit",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("user_name", String(200)),
    Column("action", String(100), nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_audit_created_at", "created_at"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("title", String(100), nullable=False),
    Column("description", Text, nullable=False),
    Column("user_name", String(200)),
    Column("backends", String(200), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("state", String(20), nullable=False),
    Column("fraction", Float, nullable=False),
    Column("message", Text, nullable=False),
    Column("error", Text),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index("ix_jobs_started_at", "started_at"),
)

job_slots = Table(
    "job_slots",
    metadata,
    Column("slot", String(32), primary_key=True),
    Column("job_id", String(32), nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
)

# One row per login attempt that may fail, per key (a user, an address): counted by every replica (schema 6).
login_failures = Table(
    "login_failures",
    metadata,
    Column("failure_id", Integer, primary_key=True, autoincrement=True),
    Column("attempt_id", String(32), nullable=False),
    Column("lock_key", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_login_failures_key_time", "lock_key", "created_at"),
)

# The lab's loop (schema 7, don_predictor/lab/). A run's worklist: how its verification share was drawn, so the
# draw can be told from the samples the lab chose to test on its own, and the bands of the spectra kept for it.
lab_worklists = Table(
    "lab_worklists",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("decided_by", String(32), nullable=False),  # the verdicts it was built from: a backend, or "both"
    Column("verify_share", Float, nullable=False),
    Column("seed", Integer, nullable=False),
    Column("cleared", Integer, nullable=False),  # `below` samples in the run: the population the draw came from
    Column("called_above", Integer, nullable=False),  # `above` samples in the run
    Column("band_names", Text),  # JSON list: the columns of the spectra kept in lab_spectra
    ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE"),
)

# One row per sample on a run's worklist: `confirm` (a send_to_lab verdict) or `verify` (a cleared sample drawn).
lab_picks = Table(
    "lab_picks",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("purpose", String(16), nullable=False),
    Column("verdict", String(32), nullable=False),
    Column("reason", Text),
    Column("lot", Text),
    ForeignKeyConstraint(["run_id", "position"], ["samples.run_id", "samples.position"], ondelete="CASCADE"),
)

# A reference value the lab measured for one scored row; at most one per row (a second, different one is refused).
lab_results = Table(
    "lab_results",
    metadata,
    Column("result_id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), nullable=False),
    Column("position", Integer, nullable=False),
    Column("sample_id", Text, nullable=False),
    Column("measured_ppb", Float, nullable=False),
    Column("method", Text),
    Column("measured_on", String(32)),  # the lab's date, ISO 8601 as given
    Column("uncertainty_ppb", Float),
    Column("file_name", Text),
    Column("file_sha256", String(64)),
    Column("file_row", Integer),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("user_name", String(200)),
    ForeignKeyConstraint(["run_id", "position"], ["samples.run_id", "samples.position"], ondelete="CASCADE"),
    UniqueConstraint("run_id", "position", name="uq_lab_results_row"),
    Index("ix_lab_results_recorded_at", "recorded_at"),
)

# The spectrum of every worklist sample, float64 little-endian in lab_worklists.band_names' order: retraining data.
lab_spectra = Table(
    "lab_spectra",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("spectrum", LargeBinary, nullable=False),
    ForeignKeyConstraint(["run_id", "position"], ["samples.run_id", "samples.position"], ondelete="CASCADE"),
    Index("ix_lab_spectra_created_at", "created_at"),
)

Index("ix_samples_sample_id", samples.c.sample_id)  # lab results find their row by sample id

LAB_ROW_TABLES = (lab_picks, lab_results, lab_spectra)  # keyed by a scored row: deleted with its run
