"""Escalations: the customer's request (Business+), and the automatic sweep of breached or
at-risk targets. Both are decided by ``sevtriage.escalation``; this module records them.

The sweep is idempotent across runs and replicas: an automatic escalation is keyed by
(ticket, target, level) under a unique constraint, and each ticket is re-read under its row lock
before anything is written.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sevtriage.errors import InputError, SevtriageError, SlaError
from sevtriage.escalation import (
    Escalation,
    EscalationRequest,
    StatedImpact,
    TicketProblem,
    decide_escalation_request,
)
from sevtriage.escalation import sweep as sweep_states
from sevtriage.service.context import ServiceContext
from sevtriage.service.problems import ConflictError, RefusedError
from sevtriage.service.schemas import EscalationRequestIn
from sevtriage.service.sla_bridge import clock_events
from sevtriage.service.tickets import ticket_view
from sevtriage.store import NewDecision, NewEscalation, TicketHistory, Writer


def _request_decision(
    ctx: ServiceContext, history: TicketHistory, severity: str, reason: str, rules: list[str]
) -> NewDecision:
    current = history.current
    explanation = {
        "kind": "escalation_request",
        "rule": rules[0] if rules else None,
        "rules": rules,
        "severity": severity,
        "decisive": True,
        "explanation": f"Customer escalation accepted: {reason}.",
        "evidence": [],
    }
    return NewDecision(
        kind="escalation_request",
        severity=severity,
        previous_severity=current.severity,
        source="escalation_request",
        confidence=1.0,
        needs_review=False,
        language=current.language,
        reasons=[explanation, *({**r, "decisive": False} for r in current.reasons)],
        signals=current.signals,
        versions={**current.versions, "sla_policy": ctx.sla.version},
        deadlines=ctx.sla.deadlines(history.content, severity, history.created_at),
        note=reason,
    )


def request_escalation(
    ctx: ServiceContext, ticket_id: str, body: EscalationRequestIn, actor: str
) -> dict[str, Any]:
    """Re-score the stated impact; a more severe result is applied. Recorded either way."""
    impact = StatedImpact.parse(body.impact)
    now = ctx.now()
    with ctx.store.writing(actor, now) as writer:
        history = writer.lock(ticket_id)
        request = EscalationRequest(ticket_id, now, impact)
        try:
            outcome = decide_escalation_request(
                clock_events(history), request, ctx.sla.policies, ctx.triager.rescore_impact
            )
        except SlaError as exc:
            raise ConflictError("sla_error", str(exc), None) from None
        decision_seq = None
        decision: NewDecision | None = None
        if outcome.accepted:
            decision = _request_decision(
                ctx, history, outcome.severity_after, outcome.reason, list(outcome.fired_rules)
            )
            decision_seq = writer.add_decision(ticket_id, decision)
        plan_refused = outcome.plan not in ctx.sla.policies.escalation.request_plans
        record = NewEscalation(
            kind="requested",
            dedupe_key=f"request:{uuid.uuid4().hex}",
            trigger="customer_request",
            outcome="accepted" if outcome.accepted else "refused",
            from_severity=outcome.severity_before,
            to_severity=outcome.severity_after,
            at=now,
            details={**outcome.as_dict(), "impact": impact.model_dump()},
        )
        writer.add_escalation(ticket_id, record, decision_seq)
    ctx.metrics.escalations.labels("requested", record.outcome).inc()
    if decision is not None:
        ctx.metrics.decision(decision.severity, decision.source, decision.kind)
    if plan_refused:
        raise RefusedError("plan_not_eligible", outcome.reason, "plan")
    return {"request": outcome.as_dict(), **ticket_view(ctx, ticket_id)}


def _automatic(escalation: Escalation) -> NewEscalation:
    return NewEscalation(
        kind="automatic",
        dedupe_key=f"{escalation.target}:level{escalation.level}",
        trigger=escalation.status,
        outcome="escalated",
        from_severity=escalation.priority_from,
        to_severity=escalation.priority_to,
        at=escalation.at,
        details=escalation.as_dict(),
    )


def _first_breach(history: TicketHistory, escalation: Escalation) -> bool:
    return escalation.status == "breached" and not any(
        e.kind == "automatic"
        and e.details.get("target") == escalation.target
        and e.trigger == "breached"
        for e in history.escalations
    )


def _escalate_ticket(
    ctx: ServiceContext, writer: Writer, ticket_id: str, at: datetime
) -> list[dict[str, Any]]:
    """Re-read the ticket under its lock, sweep it alone, record what is still new."""
    history = writer.lock(ticket_id)
    state = ctx.sla.state(history, at)
    recorded = []
    for escalation in sweep_states([state], ctx.sla.policies.escalation, at):
        if writer.add_escalation(ticket_id, _automatic(escalation)):
            ctx.metrics.escalations.labels("automatic", "escalated").inc()
            if _first_breach(history, escalation):
                ctx.metrics.breaches.labels(escalation.target).inc()
            recorded.append(escalation.as_dict())
    return recorded


def sweep(ctx: ServiceContext, at: datetime | None, actor: str) -> dict[str, Any]:
    """Escalate the open tickets' breached or at-risk targets at ``at`` (default: now)."""
    now = ctx.now()
    when = at or now
    if when > now:
        raise InputError("in_future", f"{when.isoformat()} is after now ({now.isoformat()})", "at")
    states, problems = [], []
    for history in ctx.store.iter_histories(ctx.store.open_ticket_ids()):
        try:
            states.append(ctx.sla.state(history, when))
        except SevtriageError as exc:
            problems.append(TicketProblem(history.id, "sla_error", None, str(exc)))
    due = sorted({e.ticket_id for e in sweep_states(states, ctx.sla.policies.escalation, when)})
    recorded: list[dict[str, Any]] = []
    for ticket_id in due:  # one short transaction per ticket: the sweep never blocks intake long
        with ctx.store.writing(actor, now) as writer:
            recorded.extend(_escalate_ticket(ctx, writer, ticket_id, when))
    return {
        "at": when.isoformat(),
        "checked": len(states),
        "escalations": recorded,
        "problems": [p.as_dict() for p in problems],
    }
