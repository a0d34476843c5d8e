"""JSON views of stored records: what the API returns and the review page shows."""

from __future__ import annotations

from typing import Any

from sevtriage.config import SEVERITY_LABELS
from sevtriage.service.content import iso
from sevtriage.store import Decision, Escalation, Event, NewDecision, Review, TicketHistory


def decision_view(decision: Decision | NewDecision) -> dict[str, Any]:
    view: dict[str, Any] = {
        "kind": decision.kind,
        "severity": decision.severity,
        "severity_label": SEVERITY_LABELS[decision.severity],
        "previous_severity": decision.previous_severity,
        "source": decision.source,
        "confidence": decision.confidence,
        "needs_review": decision.needs_review,
        "language": decision.language,
        "reasons": decision.reasons,
        "signals": decision.signals,
        "versions": decision.versions,
        "deadlines": decision.deadlines,
        "note": decision.note,
    }
    if isinstance(decision, Decision):
        view.update(seq=decision.seq, actor=decision.actor, recorded_at=iso(decision.recorded_at))
    return view


def event_view(event: Event) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "kind": event.kind,
        "at": iso(event.at),
        "note": event.note,
        "actor": event.actor,
        "recorded_at": iso(event.recorded_at),
    }


def review_view(review: Review) -> dict[str, Any]:
    return {
        "seq": review.seq,
        "action": review.action,
        "previous_severity": review.previous_severity,
        "severity": review.severity,
        "reason": review.reason,
        "agent": review.agent,
        "decision_seq": review.decision_seq,
        "recorded_at": iso(review.recorded_at),
    }


def escalation_view(escalation: Escalation) -> dict[str, Any]:
    return {
        "seq": escalation.seq,
        "kind": escalation.kind,
        "trigger": escalation.trigger,
        "outcome": escalation.outcome,
        "from_severity": escalation.from_severity,
        "to_severity": escalation.to_severity,
        "decision_seq": escalation.decision_seq,
        "details": escalation.details,
        "at": iso(escalation.at),
        "actor": escalation.actor,
        "recorded_at": iso(escalation.recorded_at),
    }


def current_view(history: TicketHistory) -> dict[str, Any]:
    """The decision in force, flattened the way intake answers (severity, reasons, deadlines)."""
    current = decision_view(history.current)
    return {"id": history.id, "created_at": iso(history.created_at), **current}


def history_view(history: TicketHistory, sla_status: dict[str, Any]) -> dict[str, Any]:
    return {
        **current_view(history),
        "ticket": history.content,
        "received_at": iso(history.received_at),
        "received_by": history.received_by,
        "sla_status": sla_status,
        "decisions": [decision_view(d) for d in history.decisions],
        "events": [event_view(e) for e in history.events],
        "reviews": [review_view(r) for r in history.reviews],
        "escalations": [escalation_view(e) for e in history.escalations],
    }
