"""Schema 3, the last before Alembic: bring a SQLite history written by an older app (user_version 1 to 3) to it.

A database without the old tables (a new file, any PostgreSQL database) has nothing to bring and is left alone.

Revision ID: v3
Revises:
"""

from alembic import op
from sqlalchemy import inspect

revision = "v3"
down_revision = None
branch_labels = None
depends_on = None

BACKENDS = ("rf", "tf")  # the backends schema 3 had columns for


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "sqlite" or not inspect(connection).has_table("runs"):
        return
    # Version 2 added the audit trail; version 3 renamed the verdict "inconclusive" to "send_to_lab".
    op.execute(
        "CREATE TABLE IF NOT EXISTS audit (event_id INTEGER PRIMARY KEY AUTOINCREMENT, created_utc TEXT NOT NULL,"
        " user TEXT, action TEXT NOT NULL, detail TEXT NOT NULL)"
    )
    for backend in BACKENDS:
        op.execute(f"UPDATE run_rows SET {backend}_verdict = 'send_to_lab' WHERE {backend}_verdict = 'inconclusive'")


def downgrade() -> None:
    raise NotImplementedError("the history is not migrated backwards; restore a backup instead")
