"""Storing a batch of triage results crash-safely (``sevtriage classify --store``).

A batch run is one row of ``batch_runs``, keyed by the input's fingerprint or a given run id.
The input is stored a chunk of lines at a time, each chunk in ONE transaction: the tickets it
creates (``INSERT ... ON CONFLICT DO NOTHING``: an id already stored is left as it is), an
``intake`` decision for each ticket created, and the run's progress (lines done, output bytes,
counts). A kill at any point leaves the store at the end of a chunk, with the progress that says
which one, so a resumed run neither loses nor doubles a ticket. The progress only moves from the
value this process last read (compare-and-set under the row's lock), so two processes on one run
cannot both advance it.

Ids are inserted in sorted order, as the service's intake locks them, so a batch and a request
sharing ids cannot deadlock on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from sevtriage.errors import SevtriageError
from sevtriage.store import schema
from sevtriage.store.records import NewDecision, NewTicket
from sevtriage.store.store import decision_row

if TYPE_CHECKING:
    from sevtriage.store.store import Store


@dataclass(frozen=True)
class BatchRun:
    """A run's row in ``batch_runs`` (the columns are described in ``store.schema``)."""

    run_key: str
    input_name: str
    input_sha256: str | None
    input_format: str
    output_name: str
    versions: dict[str, str | None]
    intake_at: datetime
    started_at: datetime
    updated_at: datetime
    lines_done: int = 0
    output_bytes: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    finished_at: datetime | None = None


@dataclass(frozen=True)
class BatchTicket:
    """One classified ticket of a chunk: its row, and the intake decision to add if it is new."""

    ticket: NewTicket
    decision: NewDecision


class RunConflict(SevtriageError):
    """Another process moved this run's progress: two runs of one input on one store at once."""


def decision_from_result(
    result: dict[str, Any],
    content: dict[str, Any],
    content_hash: str,
    *,
    kind: str = "intake",
    deadlines: dict[str, Any] | None = None,
    previous_severity: str | None = None,
) -> NewDecision:
    """The decision to record for a triage ``result`` of the ticket ``content`` (as posted).

    ``deadlines`` default to the result's own SLA (``result["sla"]``); the versions are the
    result's (rules, model, SLA policy)."""
    return NewDecision(
        kind=kind,
        severity=result["severity"],
        previous_severity=previous_severity,
        source=result["source"],
        confidence=float(result["confidence"]),
        needs_review=bool(result["needs_review"]),
        language=result["language"],
        reasons=result["reasons"],
        signals=result["signals"],
        versions=dict(result["versions"]),
        deadlines=result["sla"] if deadlines is None else deadlines,
        content_hash=content_hash,
        content=content,
    )


def _insert_ignoring_conflicts(connection: Connection, table: Table, key: list[str]) -> Any:
    """``INSERT ... ON CONFLICT (key) DO NOTHING`` for the connection's dialect."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=key)
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=key)
    raise NotImplementedError(dialect)


def _first_per_id(items: Sequence[BatchTicket]) -> list[BatchTicket]:
    """The first item of each ticket id, sorted by id (the lock order of the service)."""
    first: dict[str, BatchTicket] = {}
    for item in items:
        first.setdefault(item.ticket.id, item)
    return [first[key] for key in sorted(first)]


class BatchLog:
    """The runs of ``sevtriage classify --store`` in ``store``: read, start, commit a chunk."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def load(self, run_key: str) -> BatchRun | None:
        table = schema.batch_runs
        with self.store.reading() as connection:
            row = connection.execute(select(table).where(table.c.run_key == run_key)).first()
        return None if row is None else BatchRun(**row._mapping)

    def start(self, run: BatchRun, replacing: BatchRun | None = None) -> BatchRun:
        """Record a new run, or reset ``replacing`` (same key) to ``run``; returns ``run``."""
        table = schema.batch_runs
        values = {f.name: getattr(run, f.name) for f in fields(run)}
        with self.store.engine.begin() as connection:
            if replacing is None:
                insert = _insert_ignoring_conflicts(connection, table, ["run_key"])
                if connection.execute(insert.returning(table.c.run_key), values).first() is None:
                    raise RunConflict(
                        f"run {run.run_key} was started in this store by another process just "
                        "now; run again with --resume once it stops"
                    )
            else:
                self._check_unmoved(connection, replacing)
                connection.execute(
                    table.update().where(table.c.run_key == run.run_key).values(values)
                )
        return run

    def commit(
        self,
        run: BatchRun,
        items: Sequence[BatchTicket],
        *,
        lines_done: int,
        output_bytes: int,
        counts: dict[str, int],
        actor: str,
        at: datetime,
        finished: bool = False,
    ) -> BatchRun:
        """Store ``items`` and move ``run`` to ``lines_done``/``output_bytes`` in one transaction.

        ``counts`` gets ``stored`` (tickets created) and ``existing`` (items whose id was already
        stored, by an earlier run, the service, or an earlier line) added. Tickets are received
        by ``actor`` at the run's intake time. Raises ``RunConflict`` (nothing written) if the
        run moved since ``run`` was read."""
        table = schema.batch_runs
        with self.store.writing(actor, run.intake_at) as writer:
            connection = writer.connection
            self._check_unmoved(connection, run)
            unique = _first_per_id(items)
            created = self._create_tickets(connection, unique, actor, run.intake_at)
            rows = [
                decision_row(item.ticket.id, item.decision, actor, run.intake_at)
                for item in unique
                if item.ticket.id in created
            ]
            if rows:
                connection.execute(schema.decisions.insert(), rows)
            stored = {**counts}
            stored["stored"] = stored.get("stored", 0) + len(created)
            stored["existing"] = stored.get("existing", 0) + len(items) - len(created)
            moved = replace(
                run,
                lines_done=lines_done,
                output_bytes=output_bytes,
                counts=stored,
                updated_at=at,
                finished_at=at if finished else None,
            )
            connection.execute(
                table.update()
                .where(table.c.run_key == run.run_key)
                .values(
                    lines_done=moved.lines_done,
                    output_bytes=moved.output_bytes,
                    counts=moved.counts,
                    updated_at=moved.updated_at,
                    finished_at=moved.finished_at,
                )
            )
        return moved

    @staticmethod
    def _check_unmoved(connection: Connection, run: BatchRun) -> None:
        """Lock the run's row and check it is where ``run`` says; ``RunConflict`` if not."""
        table = schema.batch_runs
        row = connection.execute(
            select(table.c.lines_done, table.c.started_at)
            .where(table.c.run_key == run.run_key)
            .with_for_update()
        ).first()
        if row is None or (row.lines_done, row.started_at) != (run.lines_done, run.started_at):
            where = "was removed" if row is None else f"is at line {row.lines_done}"
            raise RunConflict(
                f"run {run.run_key} {where} but this process left it at line {run.lines_done}: "
                "another process is classifying the same input into this store; nothing of "
                "this chunk was stored"
            )

    @staticmethod
    def _create_tickets(
        connection: Connection, items: Sequence[BatchTicket], actor: str, received_at: datetime
    ) -> set[str]:
        """Insert the tickets whose id is not stored yet; the ids inserted."""
        if not items:
            return set()
        table = schema.tickets
        rows = [
            {
                "id": item.ticket.id,
                "created_at": item.ticket.created_at,
                "received_at": received_at,
                "received_by": actor,
            }
            for item in items
        ]
        insert = _insert_ignoring_conflicts(connection, table, ["id"])
        return set(connection.execute(insert.returning(table.c.id), rows).scalars())
