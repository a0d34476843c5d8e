"""Reading a ticket, following its SLA clock, and agents' reviews."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sevtriage.errors import InputError
from sevtriage.service.context import ServiceContext
from sevtriage.service.problems import ConflictError
from sevtriage.service.schemas import EventIn, ReviewIn
from sevtriage.service.views import decision_view, history_view
from sevtriage.store import NewDecision, TicketHistory, TicketNotFound

_NEVER = datetime.max.replace(tzinfo=UTC)


def ticket_view(ctx: ServiceContext, ticket_id: str) -> dict[str, Any]:
    """Current severity, the whole decision history and the SLA status at now."""
    history = ctx.store.history(ticket_id)
    if history is None:
        raise TicketNotFound(ticket_id)
    return history_view(history, ctx.sla.status(history, ctx.now()))


def add_event(ctx: ServiceContext, ticket_id: str, event: EventIn, actor: str) -> dict[str, Any]:
    """Record a clock event (the SLA clock replays them); 409 if the clock refuses it."""
    now = ctx.now()
    at = event.at or now
    if at > now:
        raise InputError("in_future", f"{at.isoformat()} is after now ({now.isoformat()})", "at")
    with ctx.store.writing(actor, now) as writer:
        history = writer.lock(ticket_id)
        if at < history.created_at:
            raise InputError(
                "before_creation",
                f"{at.isoformat()} is before the ticket was created "
                f"({history.created_at.isoformat()})",
                "at",
            )
        try:
            ctx.sla.check_event(history, event.kind, at)
        except InputError as exc:
            raise ConflictError(exc.code, exc.message, exc.field) from None
        writer.add_event(ticket_id, event.kind, at, event.note)
    return ticket_view(ctx, ticket_id)


def _review_decision(
    ctx: ServiceContext, history: TicketHistory, review: ReviewIn, actor: str
) -> NewDecision:
    current = history.current
    severity = review.severity or current.severity
    explanation = review.reason or f"Severity {severity} confirmed by {actor}."
    reason: dict[str, Any] = {
        "kind": "review",
        "rule": None,
        "severity": severity,
        "decisive": True,
        "agent": actor,
        "action": review.action,
        "explanation": explanation,
        "evidence": [],
    }
    earlier = [{**r, "decisive": False} for r in current.reasons if r.get("kind") != "review"]
    return NewDecision(
        kind="review",
        severity=severity,
        previous_severity=current.severity,
        source="review",
        confidence=1.0,
        needs_review=False,
        language=current.language,
        reasons=[reason, *earlier],
        signals=current.signals,
        versions={**current.versions, "sla_policy": ctx.sla.version},
        deadlines=ctx.sla.deadlines(history.content, severity, history.created_at),
        note=review.reason,
    )


def _check_review(history: TicketHistory, review: ReviewIn) -> None:
    current = history.current.severity
    if review.action == "override":
        if review.severity is None:
            raise InputError("missing_field", "is required for an override", "severity")
        if not review.reason:
            raise InputError("missing_field", "is required for an override", "reason")
        if review.severity == current:
            raise InputError(
                "invalid_value",
                f"{review.severity} is already the severity; use action 'confirm'",
                "severity",
            )
    elif review.severity is not None and review.severity != current:
        raise ConflictError(
            "stale_review",
            f"the severity is now {current}, not {review.severity}; reload and review again",
            "severity",
        )


def review(ctx: ServiceContext, ticket_id: str, body: ReviewIn, actor: str) -> dict[str, Any]:
    """Confirm or override the severity in force; the SLA targets follow the new severity."""
    now = ctx.now()
    with ctx.store.writing(actor, now) as writer:
        history = writer.lock(ticket_id)
        _check_review(history, body)
        decision = _review_decision(ctx, history, body, actor)
        seq = writer.add_decision(ticket_id, decision)
        writer.add_review(
            ticket_id,
            decision_seq=seq,
            reviewed_decision_seq=history.current.seq,
            action="overridden" if body.action == "override" else "accepted",
            previous_severity=history.current.severity,
            severity=decision.severity,
            reason=body.reason,
        )
    ctx.metrics.reviews.labels("overridden" if body.action == "override" else "accepted").inc()
    ctx.metrics.decision(decision.severity, decision.source, decision.kind)
    return {"decision": decision_view(decision), **ticket_view(ctx, ticket_id)}


def review_queue(ctx: ServiceContext, limit: int) -> list[dict[str, Any]]:
    """Open tickets whose decision in force needs review or is unsure, oldest deadline first."""
    now = ctx.now()
    entries: list[tuple[datetime, str, dict[str, Any]]] = []
    ids = ctx.store.review_candidate_ids(ctx.settings.review_below)
    for history in ctx.store.iter_histories(ids):
        status = ctx.sla.status(history, now)
        if status.get("open") is False:
            continue
        due = ctx.sla.next_due_of(status)
        entries.append((due or _NEVER, history.id, history_view(history, status)))
    entries.sort(key=lambda e: (e[0], e[1]))
    return [view for _, _, view in entries[:limit]]
