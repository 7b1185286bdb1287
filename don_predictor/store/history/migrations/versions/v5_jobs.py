"""Schema 5: training jobs shared by every replica. `jobs` keeps each job and its progress; `job_slots` holds one
row per backend that is training now, so a second replica cannot start the same backend (its insert conflicts).

Revision ID: v5
Revises: v4
"""

import sqlalchemy as sa
from alembic import op

revision = "v5"
down_revision = "v4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("user_name", sa.String(200)),
        sa.Column("backends", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),  # host:pid of the replica that runs it
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("fraction", sa.Float, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("started_at", when, nullable=False),
        sa.Column("heartbeat_at", when, nullable=False),
        sa.Column("finished_at", when),
    )
    op.create_index("ix_jobs_started_at", "jobs", ["started_at"])
    op.create_table(
        "job_slots",
        sa.Column("slot", sa.String(32), primary_key=True),
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("heartbeat_at", when, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("the history is not migrated backwards; restore a backup instead")
