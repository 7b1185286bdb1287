"""Schema 4: runs; samples (one row per input row); results (one row per input row and backend); real timestamps.

A new backend or per-row field changes no table. A schema-3 SQLite history (one column per backend and field, times
as ISO strings) is carried over in SQL, then its old tables are dropped.

Revision ID: v4
Revises: v3
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import inspect

revision = "v4"
down_revision = "v3"
branch_labels = None
depends_on = None

BACKENDS = ("rf", "tf")
# An ISO time with any offset ("2026-01-01T00:00:00.123+00:00") as the fixed UTC string SQLAlchemy stores on SQLite.
_UTC = "strftime('%Y-%m-%d %H:%M:%S', {0}) || '.' || substr(strftime('%f', {0}), 4, 3) || '000'"


def upgrade() -> None:
    connection = op.get_bind()
    legacy = connection.dialect.name == "sqlite" and inspect(connection).has_table("runs")
    if legacy:
        for table in ("runs", "run_rows", "audit"):
            op.execute(f"ALTER TABLE {table} RENAME TO {table}_v3")
        op.execute("DROP INDEX IF EXISTS runs_created")
        op.execute("DROP INDEX IF EXISTS audit_created")
    _create_tables()
    if not legacy:
        return
    op.execute(
        "INSERT INTO runs SELECT run_id, " + _UTC.format("created_utc") + ", user, source, backends, model_versions,"
        " limit_key, file_name, file_sha256, rows_read, rows_scored, rows_rejected FROM runs_v3"
    )
    op.execute(
        "INSERT INTO samples (run_id, position, sample_id, status) SELECT run_id, position, sample_id, status"
        " FROM run_rows_v3"
    )
    for b in BACKENDS:
        op.execute(
            "INSERT INTO results (run_id, position, backend, ppb, low_ppb, high_ppb, in_domain, verdict)"
            f" SELECT r.run_id, r.position, '{b}', {b}_ppb, {b}_low_ppb, {b}_high_ppb, {b}_in_domain, {b}_verdict"
            f" FROM run_rows_v3 r JOIN runs_v3 USING (run_id) WHERE (',' || backends || ',') LIKE '%,{b},%'"
        )
    op.execute(
        "INSERT INTO audit (event_id, created_at, user_name, action, detail) SELECT event_id, "
        + _UTC.format("created_utc")
        + ", user, action, detail FROM audit_v3"
    )
    for table in ("run_rows_v3", "runs_v3", "audit_v3"):
        op.execute(f"DROP TABLE {table}")
    op.execute("PRAGMA user_version = 4")  # an app from before Alembic refuses this file instead of misreading it


def _create_tables() -> None:
    """The tables as of this revision (frozen here: later revisions change them, not this one)."""
    when = sa.DateTime(timezone=True)
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("created_at", when, nullable=False),
        sa.Column("user_name", sa.String(200)),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("backends", sa.String(200), nullable=False),
        sa.Column("model_versions", sa.Text, nullable=False),
        sa.Column("limit_key", sa.String(100)),
        sa.Column("file_name", sa.Text),
        sa.Column("file_sha256", sa.String(64)),
        sa.Column("rows_read", sa.Integer, nullable=False),
        sa.Column("rows_scored", sa.Integer, nullable=False),
        sa.Column("rows_rejected", sa.Integer, nullable=False),
    )
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
    op.create_table(
        "samples",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("sample_id", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("measured_ppb", sa.Float),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE"),
    )
    op.create_table(
        "results",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("backend", sa.String(32), primary_key=True),
        *(sa.Column(name, sa.Float) for name in ("ppb", "low_ppb", "high_ppb")),
        sa.Column("in_domain", sa.Boolean),
        sa.Column("verdict", sa.String(32)),
        *(sa.Column(name, sa.Float) for name in ("t2", "q", "baseline")),
        sa.Column("extra", sa.Text),
        sa.ForeignKeyConstraint(["run_id", "position"], ["samples.run_id", "samples.position"], ondelete="CASCADE"),
    )
    op.create_table(
        "audit",
        sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", when, nullable=False),
        sa.Column("user_name", sa.String(200)),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_created_at", "audit", ["created_at"])


def downgrade() -> None:
    raise NotImplementedError("the history is not migrated backwards; restore a backup instead")
