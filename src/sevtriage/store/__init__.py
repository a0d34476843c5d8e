"""The database of the service: tickets, decisions, events, reviews and escalations.

SQLite by default (a file, WAL mode), PostgreSQL by URL; schema migrations with Alembic.
Everything is append-only; see ``store.store`` for the API and ``store.schema`` for the tables.
"""

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
    "Decision",
    "Escalation",
    "Event",
    "NewDecision",
    "NewEscalation",
    "NewTicket",
    "Review",
    "Store",
    "TicketHistory",
    "TicketNotFound",
    "Writer",
    "database_url",
    "make_engine",
    "migrate",
]
