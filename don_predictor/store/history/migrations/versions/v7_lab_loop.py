"""Schema 7: the lab's loop. `lab_worklists` (per run: the verification share, its seed, the kept spectra's bands),
`lab_picks` (the samples on each worklist and why), `lab_results` (the lab's measured values, one per scored row),
`lab_spectra` (the worklist samples' spectra, for retraining), and an index on samples' ids to match results.

Revision ID: v7
Revises: v6
"""

import sqlalchemy as sa
from alembic import op

revision = "v7"
down_revision = "v6"
branch_labels = None
depends_on = None

_ROW = (["run_id", "position"], ["samples.run_id", "samples.position"])


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    op.create_table(
        "lab_worklists",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("created_at", when, nullable=False),
        sa.Column("decided_by", sa.String(32), nullable=False),
        sa.Column("verify_share", sa.Float, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("cleared", sa.Integer, nullable=False),
        sa.Column("called_above", sa.Integer, nullable=False),
        sa.Column("band_names", sa.Text),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], ondelete="CASCADE"),
    )
    op.create_table(
        "lab_picks",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("lot", sa.Text),
        sa.ForeignKeyConstraint(*_ROW, ondelete="CASCADE"),
    )
    op.create_table(
        "lab_results",
        sa.Column("result_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("sample_id", sa.Text, nullable=False),
        sa.Column("measured_ppb", sa.Float, nullable=False),
        sa.Column("method", sa.Text),
        sa.Column("measured_on", sa.String(32)),
        sa.Column("uncertainty_ppb", sa.Float),
        sa.Column("file_name", sa.Text),
        sa.Column("file_sha256", sa.String(64)),
        sa.Column("file_row", sa.Integer),
        sa.Column("recorded_at", when, nullable=False),
        sa.Column("user_name", sa.String(200)),
        sa.ForeignKeyConstraint(*_ROW, ondelete="CASCADE"),
        sa.UniqueConstraint("run_id", "position", name="uq_lab_results_row"),
    )
    op.create_index("ix_lab_results_recorded_at", "lab_results", ["recorded_at"])
    op.create_table(
        "lab_spectra",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("created_at", when, nullable=False),
        sa.Column("spectrum", sa.LargeBinary, nullable=False),
        sa.ForeignKeyConstraint(*_ROW, ondelete="CASCADE"),
    )
    op.create_index("ix_lab_spectra_created_at", "lab_spectra", ["created_at"])
    op.create_index("ix_samples_sample_id", "samples", ["sample_id"])


def downgrade() -> None:
    raise NotImplementedError("the history is not migrated backwards; restore a backup instead")
