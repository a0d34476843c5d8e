"""The database schema (SQLAlchemy Core). Every ticket table is append-only: a ticket's current
state (severity, SLA clock, review status) is derived from its latest rows, never updated in place.
``batch_runs`` (the progress of ``sevtriage classify --store``) is the one bookkeeping table updated
in place.

Changing a table here needs a new Alembic revision in ``sevtriage/migrations/versions``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC; SQLite keeps no offset, so it is re-attached on reading."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} refused: sevtriage stores aware times")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", String(256), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("received_by", String(64), nullable=False),
)

# kind: intake (first post), update (re-posted with changed content), review,
# escalation_request, escalation (automatic). ``content`` is the ticket as posted (intake/update).
decisions = Table(
    "decisions",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", String(256), ForeignKey("tickets.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("severity", String(2), nullable=False),
    Column("previous_severity", String(2)),
    Column("source", String(32), nullable=False),
    Column("language", String(8)),
    Column("confidence", Float, nullable=False),
    Column("needs_review", Boolean, nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("signals", JSON, nullable=False),
    Column("rules_version", String(64)),
    Column("model_version", String(64)),
    Column("policy_version", String(64)),
    Column("deadlines", JSON, nullable=False),
    Column("content_hash", String(64)),
    Column("content", JSON),
    Column("note", Text),
    Column("actor", String(64), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_decisions_ticket_seq", "ticket_id", "seq"),
)

# The SLA clock's input: first_response, waiting_on_customer, customer_replied, resolved, reopened.
ticket_events = Table(
    "ticket_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", String(256), ForeignKey("tickets.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("note", Text),
    Column("actor", String(64), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_ticket_events_ticket_seq", "ticket_id", "seq"),
)

reviews = Table(
    "reviews",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", String(256), ForeignKey("tickets.id"), nullable=False),
    Column("decision_seq", Integer, ForeignKey("decisions.seq"), nullable=False),
    Column("reviewed_decision_seq", Integer, ForeignKey("decisions.seq"), nullable=False),
    Column("agent", String(64), nullable=False),
    Column("action", String(16), nullable=False),  # accepted | overridden
    Column("previous_severity", String(2), nullable=False),
    Column("severity", String(2), nullable=False),
    Column("reason", Text),
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_reviews_ticket_seq", "ticket_id", "seq"),
)

# kind: automatic (the sweep) or requested (the customer). ``dedupe_key`` makes the sweep
# idempotent across runs and replicas: one row per ticket and key, enforced by the database.
escalations = Table(
    "escalations",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("ticket_id", String(256), ForeignKey("tickets.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("dedupe_key", String(200), nullable=False),
    Column("trigger", String(64), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("from_severity", String(2), nullable=False),
    Column("to_severity", String(2), nullable=False),
    Column("decision_seq", Integer, ForeignKey("decisions.seq")),
    Column("details", JSON, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    UniqueConstraint("ticket_id", "dedupe_key", name="uq_escalations_ticket_key"),
)

# One row per ``sevtriage classify --store`` run: ``run_key`` is the input's format and fingerprint
# ("jsonl:<sha256>"), the given ``--run-id`` ("id:<run id>"), or, for a pipe without a run id,
# "stdin:<random>" (never resumed). Updated in place, always in the transaction that stores the
# lines it counts, so the stored tickets and the progress agree.
# ``output_bytes``: length of the output file when ``lines_done`` lines were written;
# ``intake_at``: the run's "now" (deadlines of tickets without created_at);
# ``counts``: P1..P4, needs_review, errors, stored (new tickets), existing (ids already stored).
batch_runs = Table(
    "batch_runs",
    metadata,
    Column("run_key", String(200), primary_key=True),
    Column("input_name", Text, nullable=False),
    Column("input_sha256", String(64)),
    Column("input_format", String(8), nullable=False),
    Column("output_name", Text, nullable=False),
    Column("versions", JSON, nullable=False),
    Column("intake_at", UtcDateTime, nullable=False),
    Column("lines_done", Integer, nullable=False),
    Column("output_bytes", BigInteger, nullable=False),
    Column("counts", JSON, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
)
