"""The database of the service: tickets, decisions, events, reviews and escalations.

SQLite by default (a file, WAL mode), PostgreSQL by URL; schema migrations with Alembic.
Ticket data is append-only; see ``store.store`` for the API and ``store.schema`` for the tables.
``store.batch`` stores ``sevtriage classify --store`` runs chunk by chunk with their checkpoints.
"""

from sevtriage.store.batch import (
    BatchLog,
    BatchRun,
    BatchTicket,
    RunConflict,
    decision_from_result,
)
from sevtriage.store.engine import database_url, make_engine, migrate
from sevtriage.store.records import (
    Decision,
    Escalation,
    Event,
    NewDecision,
    NewEscalation,
    NewTicket,
    Review,
    TicketHistory,
)
from sevtriage.store.store import Store, TicketNotFound, Writer

__all__ = [
    "BatchLog",
    "BatchRun",
    "BatchTicket",
    "Decision",
    "Escalation",
    "Event",
    "NewDecision",
    "NewEscalation",
    "NewTicket",
    "Review",
    "RunConflict",
    "Store",
    "TicketHistory",
    "TicketNotFound",
    "Writer",
    "database_url",
    "decision_from_result",
    "make_engine",
    "migrate",
]
