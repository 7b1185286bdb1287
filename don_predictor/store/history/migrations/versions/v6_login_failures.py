"""Schema 6: failed logins kept in the database, so a restart or another replica does not reset a lockout. One row
per attempt and key (a user, a client address); an attempt is counted before its password is checked.

Revision ID: v6
Revises: v5
"""

import sqlalchemy as sa
from alembic import op

revision = "v6"
down_revision = "v5"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("failure_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("attempt_id", sa.String(32), nullable=False),
        sa.Column("lock_key", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_login_failures_key_time", "login_failures", ["lock_key", "created_at"])


def downgrade() -> None:
    raise NotImplementedError("the history is not migrated backwards; restore a backup instead")
