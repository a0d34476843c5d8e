"""Initial schema: tickets, decisions, ticket events, reviews, escalations.

Revision ID: 0001_initial
Revises:
Create Date: 2025-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.String(256), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("received_at", _TS, nullable=False),
        sa.Column("received_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
    )
    op.create_table(
        "decisions",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(2), nullable=False),
        sa.Column("previous_severity", sa.String(2)),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("language", sa.String(8)),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("signals", sa.JSON(), nullable=False),
        sa.Column("rules_version", sa.String(64)),
        sa.Column("model_version", sa.String(64)),
        sa.Column("policy_version", sa.String(64)),
        sa.Column("deadlines", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("content", sa.JSON()),
        sa.Column("note", sa.Text()),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("recorded_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name="fk_decisions_ticket_id_tickets"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_decisions"),
    )
    op.create_index("ix_decisions_ticket_seq", "decisions", ["ticket_id", "seq"])
    op.create_table(
        "ticket_events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("recorded_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name="fk_ticket_events_ticket_id_tickets"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_ticket_events"),
    )
    op.create_index("ix_ticket_events_ticket_seq", "ticket_events", ["ticket_id", "seq"])
    op.create_table(
        "reviews",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.String(256), nullable=False),
        sa.Column("decision_seq", sa.Integer(), nullable=False),
        sa.Column("reviewed_decision_seq", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("previous_severity", sa.String(2), nullable=False),
        sa.Column("severity", sa.String(2), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("recorded_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_reviews_ticket_id_tickets"),
        sa.ForeignKeyConstraint(
            ["decision_seq"], ["decisions.seq"], name="fk_reviews_decision_seq_decisions"
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_decision_seq"],
            ["decisions.seq"],
            name="fk_reviews_reviewed_decision_seq_decisions",
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_reviews"),
    )
    op.create_index("ix_reviews_ticket_seq", "reviews", ["ticket_id", "seq"])
    op.create_table(
        "escalations",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("trigger", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("from_severity", sa.String(2), nullable=False),
        sa.Column("to_severity", sa.String(2), nullable=False),
        sa.Column("decision_seq", sa.Integer()),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("recorded_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name="fk_escalations_ticket_id_tickets"
        ),
        sa.ForeignKeyConstraint(
            ["decision_seq"], ["decisions.seq"], name="fk_escalations_decision_seq_decisions"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_escalations"),
        sa.UniqueConstraint("ticket_id", "dedupe_key", name="uq_escalations_ticket_key"),
    )


def downgrade() -> None:
    for table in ("escalations", "reviews", "ticket_events", "decisions", "tickets"):
        op.drop_table(table)
