"""``POST /v1/tickets``: validate, triage, compute the SLA, store idempotently.

A ticket id seen before with the same content is answered from the store (nothing written); with
a changed content it gets an ``update`` decision (re-triaged; deadlines from the original creation
time). The whole batch is validated first: one bad ticket refuses the batch with every problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sevtriage.errors import InputError
from sevtriage.service.content import content_hash, ticket_content
from sevtriage.service.context import ServiceContext
from sevtriage.service.problems import BatchInputError, Problem
from sevtriage.service.views import current_view, decision_view
from sevtriage.store import NewDecision, NewTicket, decision_from_result
from sevtriage.ticket import Ticket


@dataclass(frozen=True)
class _Prepared:
    ticket: Ticket
    content: dict[str, Any]
    content_hash: str
    created_at: datetime
    result: dict[str, Any]
    deadlines: dict[str, Any]


def _decision(
    item: _Prepared, kind: str, deadlines: dict[str, Any], previous: str | None
) -> NewDecision:
    """The decision row, built as ``classify --store`` builds it (the result carries the SLA
    policy version of the same triager)."""
    return decision_from_result(
        item.result,
        item.content,
        item.content_hash,
        kind=kind,
        deadlines=deadlines,
        previous_severity=previous,
    )


def _prepare(ctx: ServiceContext, records: Sequence[Any], now: datetime) -> list[_Prepared]:
    problems: list[Problem] = []
    tickets: list[Ticket] = []
    for index, record in enumerate(records):
        try:
            tickets.append(ctx.triager.parse(record))
        except InputError as exc:
            problems.append(Problem.from_input_error(exc, index if len(records) > 1 else None))
    if problems:
        raise BatchInputError(problems)
    results = ctx.triager.triage_records(enumerate(tickets), now)
    prepared = []
    for index, (ticket, result) in enumerate(zip(tickets, results, strict=True)):
        content = ticket_content(ticket)
        created_at = ticket.created_at or now
        if created_at > now:
            problems.append(
                Problem(
                    "in_future",
                    "created_at",
                    f"{created_at.isoformat()} is after now ({now.isoformat()})",
                    index if len(records) > 1 else None,
                )
            )
            continue
        prepared.append(
            _Prepared(ticket, content, content_hash(content), created_at, result, result["sla"])
        )
    if problems:
        raise BatchInputError(problems)
    return prepared


def _store(
    ctx: ServiceContext, prepared: list[_Prepared], actor: str, now: datetime
) -> dict[int, dict[str, Any]]:
    answers: dict[int, dict[str, Any]] = {}
    recorded: list[NewDecision] = []
    # Ticket rows are locked in id order, so two batches sharing ids cannot deadlock.
    order = sorted(range(len(prepared)), key=lambda i: prepared[i].ticket.id)
    with ctx.store.writing(actor, now) as writer:
        for index in order:
            item = prepared[index]
            ticket_id = item.ticket.id
            if writer.create_ticket(NewTicket(ticket_id, item.created_at)):
                decision = _decision(item, "intake", item.deadlines, None)
                writer.add_decision(ticket_id, decision)
                answers[index] = _answer(ticket_id, "created", item.created_at, decision)
                recorded.append(decision)
                continue
            history = writer.lock(ticket_id)
            if history.content_decision.content_hash == item.content_hash:
                answers[index] = {"status": "unchanged", **current_view(history)}
                continue
            severity = item.result["severity"]
            deadlines = ctx.sla.deadlines(item.content, severity, history.created_at)
            decision = _decision(item, "update", deadlines, history.current.severity)
            writer.add_decision(ticket_id, decision)
            answers[index] = _answer(ticket_id, "updated", history.created_at, decision)
            recorded.append(decision)
    for decision in recorded:
        ctx.metrics.decision(decision.severity, decision.source, decision.kind)
    return answers


def _answer(
    ticket_id: str, status: str, created_at: datetime, decision: NewDecision
) -> dict[str, Any]:
    return {
        "status": status,
        "id": ticket_id,
        "created_at": created_at.isoformat(),
        **decision_view(decision),
    }


def intake(ctx: ServiceContext, records: Sequence[Any], actor: str) -> list[dict[str, Any]]:
    """Store ``records`` (already JSON-decoded); one answer per record, in order."""
    now = ctx.now()
    prepared = _prepare(ctx, records, now)
    answers = _store(ctx, prepared, actor, now)
    return [answers[i] for i in range(len(prepared))]
