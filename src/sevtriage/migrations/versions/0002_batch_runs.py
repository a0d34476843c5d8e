"""Progress of ``sevtriage classify --store`` runs (checkpoints for ``--resume``).

Revision ID: 0002_batch_runs
Revises: 0001_initial
Create Date: 2025-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_batch_runs"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "batch_runs",
        sa.Column("run_key", sa.String(200), nullable=False),
        sa.Column("input_name", sa.Text(), nullable=False),
        sa.Column("input_sha256", sa.String(64)),
        sa.Column("input_format", sa.String(8), nullable=False),
        sa.Column("output_name", sa.Text(), nullable=False),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("intake_at", _TS, nullable=False),
        sa.Column("lines_done", sa.Integer(), nullable=False),
        sa.Column("output_bytes", sa.BigInteger(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("finished_at", _TS),
        sa.PrimaryKeyConstraint("run_key", name="pk_batch_runs"),
    )


def downgrade() -> None:
    op.drop_table("batch_runs")
