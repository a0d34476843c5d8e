"""The store: a small API over the database that the service calls.

Reads return ``TicketHistory`` records. Writes go through ``Store.writing(actor, now)``, one
transaction in which each touched ticket row is locked first (``FOR UPDATE`` on PostgreSQL; SQLite
write transactions are exclusive), so two requests about one ticket never interleave, on one
replica or several. Rows are only ever inserted; every insert records who and when.

On SQLite the writers of one process take turns on a lock before they begin, so that under load
they queue (and are woken at once) instead of polling in SQLite's busy handler, which sleeps up
to 100 ms between tries: at 150 requests/s that polling made the p99 of ``POST /v1/tickets``
about 0.5 s. Writers in other processes (``serve --workers``) still meet in the busy handler.
Taking turns, they share one connection, kept open, and begin and end their transactions on the
driver (see ``Store.writing``).
The service also moves SQLite's WAL checkpoints out of its commits (``store.checkpoints``).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Row, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from sevtriage.store import schema
from sevtriage.store.checkpoints import WAL_AUTOCHECKPOINT, WalCheckpointer
from sevtriage.store.engine import READ_ONLY, make_engine, migrate, sqlite_write_transaction
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

_CHUNK = 500  # ids per IN (...) query


def _decision(row: Row[Any]) -> Decision:
    m = row._mapping
    return Decision(
        seq=m["seq"],
        kind=m["kind"],
        severity=m["severity"],
        previous_severity=m["previous_severity"],
        source=m["source"],
        confidence=m["confidence"],
        needs_review=m["needs_review"],
        language=m["language"],
        reasons=m["reasons"],
        signals=m["signals"],
        versions={
            "rules": m["rules_version"],
            "model": m["model_version"],
            "sla_policy": m["policy_version"],
        },
        deadlines=m["deadlines"],
        content_hash=m["content_hash"],
        content=m["content"],
        note=m["note"],
        actor=m["actor"],
        recorded_at=m["recorded_at"],
    )


def _event(row: Row[Any]) -> Event:
    return Event(**{k: row._mapping[k] for k in Event.__dataclass_fields__})


def _review(row: Row[Any]) -> Review:
    return Review(**{k: row._mapping[k] for k in Review.__dataclass_fields__})


def _escalation(row: Row[Any]) -> Escalation:
    return Escalation(**{k: row._mapping[k] for k in Escalation.__dataclass_fields__})


def _values(record: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, shallow (``asdict`` deep-copies every JSON value)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def load_histories(connection: Connection, ids: Sequence[str]) -> dict[str, TicketHistory]:
    """The histories of the tickets ``ids`` that exist (four queries per chunk of ids)."""
    found: dict[str, TicketHistory] = {}
    for chunk in _chunks(list(dict.fromkeys(ids))):
        rows: dict[str, dict[str, list[Any]]] = {}
        parts: tuple[tuple[str, Table, Any], ...] = (
            ("decisions", schema.decisions, _decision),
            ("events", schema.ticket_events, _event),
            ("reviews", schema.reviews, _review),
            ("escalations", schema.escalations, _escalation),
        )
        for name, table, convert in parts:
            query = select(table).where(table.c.ticket_id.in_(chunk)).order_by(table.c.seq)
            for row in connection.execute(query):
                per_ticket = rows.setdefault(row._mapping["ticket_id"], {})
                per_ticket.setdefault(name, []).append(convert(row))
        for ticket in connection.execute(
            select(schema.tickets).where(schema.tickets.c.id.in_(chunk))
        ):
            m, lists = ticket._mapping, rows.get(ticket._mapping["id"], {})
            if not lists.get("decisions"):
                continue  # created by a transaction that is still writing its first decision
            found[m["id"]] = TicketHistory(
                id=m["id"],
                created_at=m["created_at"],
                received_at=m["received_at"],
                received_by=m["received_by"],
                decisions=tuple(lists["decisions"]),
                events=tuple(lists.get("events", ())),
                reviews=tuple(lists.get("reviews", ())),
                escalations=tuple(lists.get("escalations", ())),
            )
    return found


class TicketNotFound(LookupError):
    """No ticket with this id (the service answers 404)."""


class CompiledInsert:
    """One ``INSERT ... RETURNING`` compiled once per dialect by SQLAlchemy's compiler and run
    through ``exec_driver_sql`` with each column's bind processor (the dialect's implementation
    of its type: JSON, aware times, booleans). The same SQL and values as
    ``connection.execute(insert, values)``, without building the statement, its cache key and
    the compiled-cache lookup for every row: storing a ticket's intake took 0.40 ms of CPU on
    SQLite, 0.31 ms this way. On SQLite (pysqlite) the statement goes straight to the driver's
    cursor, without SQLAlchemy's execution context and result set-up (0.27 -> 0.21 ms); a
    driver error is raised as the ``sqlalchemy.exc`` error ``exec_driver_sql`` would raise."""

    def __init__(
        self, dialect: Dialect, table: Table, columns: tuple[str, ...], conflict: tuple[str, ...]
    ) -> None:
        statement: Any
        if not conflict:
            statement = table.insert().returning(*table.primary_key.columns)
        elif dialect.name == "postgresql":
            statement = postgresql.insert(table).on_conflict_do_nothing(index_elements=conflict)
            statement = statement.returning(*(table.c[name] for name in conflict))
        elif dialect.name == "sqlite":
            statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=conflict)
            statement = statement.returning(*(table.c[name] for name in conflict))
        else:
            raise NotImplementedError(dialect.name)
        compiled = statement.compile(dialect=dialect, column_keys=list(columns))
        self.sql = compiled.string
        self.positional = dialect.positional
        order = compiled.positiontup if dialect.positional else None
        self.names = tuple(order) if order is not None else columns
        self.processors = tuple(
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in self.names
        )
        direct = dialect.name == "sqlite" and dialect.driver == "pysqlite"
        self.driver_error: type[Exception] | None = dialect.loaded_dbapi.Error if direct else None

    def execute(self, connection: Connection, values: dict[str, Any]) -> Any:
        """Insert ``values``; the first RETURNING value, or None when no row was inserted."""
        processed = [
            value if process is None else process(value)
            for value, process in zip(
                map(values.__getitem__, self.names), self.processors, strict=True
            )
        ]
        parameters: Any = (
            tuple(processed) if self.positional else dict(zip(self.names, processed, strict=True))
        )
        if self.driver_error is not None:
            return self._execute_on_driver(connection, parameters, self.driver_error)
        row = connection.exec_driver_sql(self.sql, parameters).first()
        return None if row is None else row[0]

    def _execute_on_driver(
        self, connection: Connection, parameters: Any, driver_error: type[Exception]
    ) -> Any:
        driver: Any = connection.connection.driver_connection
        cursor = driver.cursor()
        try:
            row = cursor.execute(self.sql, parameters).fetchone()
        except driver_error as exc:
            raise DBAPIError.instance(
                self.sql, parameters, exc, driver_error, dialect=connection.dialect
            ) from exc
        finally:
            cursor.close()
        return None if row is None else row[0]


_COMPILED: weakref.WeakKeyDictionary[Dialect, dict[tuple[Any, ...], CompiledInsert]] = (
    weakref.WeakKeyDictionary()
)


def compiled_insert(
    dialect: Dialect, table: Table, columns: tuple[str, ...], conflict: tuple[str, ...] = ()
) -> CompiledInsert:
    """The ``CompiledInsert`` of ``table`` for ``columns`` (``ON CONFLICT (conflict) DO
    NOTHING`` when given) on ``dialect``, compiled on first use."""
    per_dialect = _COMPILED.get(dialect)
    if per_dialect is None:
        per_dialect = _COMPILED.setdefault(dialect, {})
    key = (table.name, columns, conflict)
    found = per_dialect.get(key)
    if found is None:
        found = per_dialect.setdefault(key, CompiledInsert(dialect, table, columns, conflict))
    return found


def _ticket_row(ticket: NewTicket, actor: str, now: datetime) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "created_at": ticket.created_at,
        "received_at": now,
        "received_by": actor,
    }


def decision_row(
    ticket_id: str, decision: NewDecision, actor: str, now: datetime
) -> dict[str, Any]:
    """The ``decisions`` row of ``decision`` (its versions spread over three columns); the
    service's intake and ``classify --store`` both store it. Each field is named here (a test
    checks they cover the table): ``dataclasses.fields`` per row cost ~3 us."""
    versions = decision.versions
    return {
        "kind": decision.kind,
        "severity": decision.severity,
        "source": decision.source,
        "confidence": decision.confidence,
        "needs_review": decision.needs_review,
        "deadlines": decision.deadlines,
        "language": decision.language,
        "reasons": decision.reasons,
        "signals": decision.signals,
        "previous_severity": decision.previous_severity,
        "content_hash": decision.content_hash,
        "content": decision.content,
        "note": decision.note,
        "ticket_id": ticket_id,
        "rules_version": versions.get("rules"),
        "model_version": versions.get("model"),
        "policy_version": versions.get("sla_policy"),
        "actor": actor,
        "recorded_at": now,
    }


class Writer:
    """One write transaction on behalf of ``actor`` at ``now``; see ``Store.writing``."""

    def __init__(self, connection: Connection, actor: str, now: datetime) -> None:
        self.connection = connection
        self.actor = actor
        self.now = now

    def _insert_unless_exists(self, table: Table, key: list[str], values: dict[str, Any]) -> bool:
        """``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING``: True if the row was inserted.

        (RETURNING, not ``rowcount``: drivers differ in what they count.)"""
        insert = compiled_insert(self.connection.dialect, table, tuple(values), tuple(key))
        return insert.execute(self.connection, values) is not None

    def _insert(self, table: Table, values: dict[str, Any]) -> int:
        """Insert one row and return its new ``seq``."""
        insert = compiled_insert(self.connection.dialect, table, tuple(values))
        seq = insert.execute(self.connection, values)
        assert seq is not None
        return int(seq)

    def create_ticket(self, ticket: NewTicket) -> bool:
        """Insert the ticket unless its id exists (``ON CONFLICT DO NOTHING``): True if created.

        The unique key decides, so concurrent intakes of one id on any replica create one row.
        """
        values = _ticket_row(ticket, self.actor, self.now)
        return self._insert_unless_exists(schema.tickets, ["id"], values)

    def lock(self, ticket_id: str) -> TicketHistory:
        """Lock the ticket row for this transaction and return its history."""
        locked = self.connection.execute(
            select(schema.tickets.c.id).where(schema.tickets.c.id == ticket_id).with_for_update()
        ).first()
        history = load_histories(self.connection, [ticket_id]).get(ticket_id)
        if locked is None or history is None:
            raise TicketNotFound(ticket_id)
        return history

    def add_decision(self, ticket_id: str, decision: NewDecision) -> int:
        return self._insert(
            schema.decisions, decision_row(ticket_id, decision, self.actor, self.now)
        )

    def add_event(self, ticket_id: str, kind: str, at: datetime, note: str | None) -> int:
        values = {
            "ticket_id": ticket_id,
            "kind": kind,
            "at": at,
            "note": note,
            "actor": self.actor,
            "recorded_at": self.now,
        }
        return self._insert(schema.ticket_events, values)

    def add_review(
        self,
        ticket_id: str,
        *,
        decision_seq: int,
        reviewed_decision_seq: int,
        action: str,
        previous_severity: str,
        severity: str,
        reason: str | None,
    ) -> int:
        values = {
            "ticket_id": ticket_id,
            "decision_seq": decision_seq,
            "reviewed_decision_seq": reviewed_decision_seq,
            "agent": self.actor,
            "action": action,
            "previous_severity": previous_severity,
            "severity": severity,
            "reason": reason,
            "recorded_at": self.now,
        }
        return self._insert(schema.reviews, values)

    def add_escalation(
        self, ticket_id: str, escalation: NewEscalation, decision_seq: int | None = None
    ) -> bool:
        """Record an escalation unless one with the same ticket and key exists: True if new."""
        values = _values(escalation)
        values.update(
            ticket_id=ticket_id,
            decision_seq=decision_seq,
            actor=self.actor,
            recorded_at=self.now,
        )
        return self._insert_unless_exists(schema.escalations, ["ticket_id", "dedupe_key"], values)


class Store:
    """The database behind the service (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite: one writer at a time in this process (see the module docstring). Re-entrant, so
        # a nested ``writing`` in one thread fails in SQLite's busy timeout, as it did before.
        self._write_lock = threading.RLock() if engine.dialect.name == "sqlite" else None
        # SQLite with pysqlite: the connection the writers of this process take turns on, kept
        # open between transactions (see ``writing``); guarded by the write lock, as is
        # ``_writing`` (a transaction is open on it).
        dialect = engine.dialect
        self._keeps_writer = dialect.name == "sqlite" and dialect.driver == "pysqlite"
        self._writer: Connection | None = None
        self._writing = False
        self.checkpointer: WalCheckpointer | None = None

    @classmethod
    def open(
        cls, url: str, *, migrate_schema: bool = True, background_checkpoints: bool = False
    ) -> Store:
        """Connect to ``url`` and bring the schema to the latest migration. With
        ``background_checkpoints`` (the service), a SQLite WAL is checkpointed by a thread
        rather than by the commits of requests (see ``store.checkpoints``)."""
        frames = WAL_AUTOCHECKPOINT if background_checkpoints else None
        engine = make_engine(url, wal_autocheckpoint=frames)
        if migrate_schema:
            migrate(engine)
        store = cls(engine)
        if background_checkpoints and engine.dialect.name == "sqlite":
            store.checkpointer = WalCheckpointer(engine).start()
        return store

    @property
    def serial_writes(self) -> bool:
        """True when this process's writers take turns (SQLite; see the module docstring)."""
        return self._write_lock is not None

    def close(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        with self._write_lock or nullcontext():
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        self.engine.dispose()

    def warm_up(self) -> None:
        """Open a pooled connection (and on SQLite the writers' connection) and compile the
        inserts of an intake (a ticket and its decision) at start-up rather than in the first
        request (~15 ms). Writes nothing."""
        with self.reading() as connection:
            connection.exec_driver_sql("SELECT 1")
        dialect, now = self.engine.dialect, datetime.now(UTC)
        ticket = _ticket_row(NewTicket("", now), "", now)
        compiled_insert(dialect, schema.tickets, tuple(ticket), ("id",))
        decision = NewDecision("intake", "P4", "rules", 1.0, needs_review=False, deadlines={})
        compiled_insert(dialect, schema.decisions, tuple(decision_row("", decision, "", now)))
        if self._keeps_writer:
            with self._write_lock or nullcontext():
                self._writer_connection()

    @contextmanager
    def writing(self, actor: str, now: datetime) -> Iterator[Writer]:
        """One write transaction; committed when the block ends, rolled back on an exception.

        On SQLite (pysqlite) the writers of this process, who take turns anyway, share one
        connection kept open, in a transaction begun and ended on the driver
        (``engine.sqlite_write_transaction``). Checking a connection out of the pool and back
        in, and ``Engine.begin``'s transaction, cost ~100 us of the CPU of a one-ticket
        ``POST /v1/tickets`` (measured in process, paired with the old code). The connection
        is replaced when a transaction leaves it other than idle (invalidated, or still in a
        transaction after a failed COMMIT). A ``writing`` nested in another in one thread
        takes a connection of its own (and fails in SQLite's busy timeout, as it always did).
        """
        with self._write_lock or nullcontext():
            if not self._keeps_writer or self._writing:
                with self.engine.begin() as connection:
                    yield Writer(connection, actor, now)
                return
            self._writing = True
            try:
                connection = self._writer_connection()
                with sqlite_write_transaction(connection):
                    yield Writer(connection, actor, now)
            finally:
                self._writing = False
                self._drop_writer_unless_idle()

    def _writer_connection(self) -> Connection:
        writer = self._writer
        if writer is None or writer.closed or writer.invalidated:
            writer = self._writer = self.engine.connect()
        return writer

    def _drop_writer_unless_idle(self) -> None:
        """Close the kept connection (back to the pool, which rolls back) unless it is open,
        valid and outside any transaction, in SQLAlchemy's view and in the driver's."""
        writer = self._writer
        if writer is None:
            return
        if not (writer.closed or writer.invalidated or writer.in_transaction()):
            driver: Any = writer.connection.driver_connection
            if not driver.in_transaction:
                return
        self._writer = None
        writer.close()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(**{READ_ONLY: True}) as connection:
            yield connection

    def histories(self, ids: Sequence[str]) -> dict[str, TicketHistory]:
        with self.reading() as connection:
            return load_histories(connection, ids)

    def history(self, ticket_id: str) -> TicketHistory | None:
        return self.histories([ticket_id]).get(ticket_id)

    def recent_contents(self, limit: int, body_chars: int | None = None) -> list[dict[str, Any]]:
        """The ticket contents of the ``limit`` latest decisions that hold one, newest first
        (what a service warms a new triager with: ``service.startup``), each body cut at
        ``body_chars``. Rows are streamed and cut one at a time: 1,000 bodies of the largest
        size allowed would be 100 MB or more at once."""
        if limit <= 0:
            return []
        decisions = schema.decisions
        # A decision without content (a review, an escalation) holds JSON null, which is not
        # SQL NULL: they are skipped here, reading on until ``limit`` contents are found.
        query = (
            select(decisions.c.content)
            .order_by(decisions.c.seq.desc())
            .execution_options(stream_results=True, yield_per=100)
        )
        out: list[dict[str, Any]] = []
        with self.reading() as connection:
            for content in connection.execute(query).scalars():
                if not isinstance(content, dict):
                    continue
                body = content.get("body")
                if body_chars is not None and isinstance(body, str) and len(body) > body_chars:
                    content["body"] = body[:body_chars]
                out.append(content)
                if len(out) == limit:
                    break
        return out

    def count_tickets(self) -> int:
        with self.reading() as connection:
            query = select(func.count()).select_from(schema.tickets)
            return int(connection.execute(query).scalar_one())

    def open_ticket_ids(self) -> list[str]:
        """Tickets whose latest event is not ``resolved`` (or that have no event yet)."""
        events = schema.ticket_events
        latest = (
            select(events.c.ticket_id, func.max(events.c.seq).label("seq"))
            .group_by(events.c.ticket_id)
            .subquery()
        )
        resolved = (
            select(events.c.ticket_id)
            .join(latest, latest.c.seq == events.c.seq)
            .where(events.c.kind == "resolved")
        )
        query = (
            select(schema.tickets.c.id)
            .where(schema.tickets.c.id.not_in(resolved))
            .order_by(schema.tickets.c.id)
        )
        with self.reading() as connection:
            return list(connection.execute(query).scalars())

    def review_candidate_ids(self, below_confidence: float) -> list[str]:
        """Tickets whose decision in force needs review or has confidence below the threshold."""
        decisions = schema.decisions
        latest = (
            select(func.max(decisions.c.seq).label("seq"))
            .group_by(decisions.c.ticket_id)
            .subquery()
        )
        query = (
            select(decisions.c.ticket_id)
            .join(latest, latest.c.seq == decisions.c.seq)
            .where(decisions.c.needs_review | (decisions.c.confidence < below_confidence))
            .order_by(decisions.c.ticket_id)
        )
        with self.reading() as connection:
            return list(connection.execute(query).scalars())

    def reviewed_ids(self) -> list[str]:
        query = select(schema.reviews.c.ticket_id).distinct().order_by(schema.reviews.c.ticket_id)
        with self.reading() as connection:
            return list(connection.execute(query).scalars())

    def iter_histories(self, ids: Iterable[str]) -> Iterator[TicketHistory]:
        """Histories of ``ids`` in order, loaded a chunk at a time."""
        ordered = list(ids)
        for chunk in _chunks(ordered):
            found = self.histories(chunk)
            yield from (found[i] for i in chunk if i in found)
