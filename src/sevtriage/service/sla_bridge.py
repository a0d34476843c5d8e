"""The service's one door to the SLA engine (``sla``, ``clock``, ``escalation``).

The SLA clock is a replay of events; the store keeps them spread over its append-only tables.
``clock_events`` rebuilds the clock's input from a ticket's history: ``created`` (plan, zone,
country, first severity), ``severity_changed`` for every decision that changed the severity
(reviews, accepted escalation requests, re-posted content), the ticket events the API records,
and ``escalated`` for the automatic escalations already recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sevtriage.clock import EVENT_TYPES, EventType, TicketClock, TicketEvent, TicketSlaState
from sevtriage.errors import InputError, SlaError
from sevtriage.sla import SlaPolicies
from sevtriage.store import TicketHistory
from sevtriage.ticket import Ticket
from sevtriage.triage import Triager

# A ticket posted without these fields: no plan has no SLA; times are read in UTC.
NO_PLAN = "none"
DEFAULT_TIMEZONE = "UTC"
_BY = {"review": "agent", "escalation_request": "escalation", "update": "intake"}


def ticket_place(content: dict[str, Any]) -> tuple[str, str, str | None]:
    """(plan, timezone, country) of a stored ticket, with the defaults above."""
    return (
        content.get("plan") or NO_PLAN,
        content.get("timezone") or DEFAULT_TIMEZONE,
        content.get("country"),
    )


def _event(ticket_id: str, kind: str, at: datetime) -> TicketEvent:
    if kind not in EVENT_TYPES:
        raise InputError("bad_event_type", f"{kind!r}; use one of {', '.join(EVENT_TYPES)}", "kind")
    return TicketEvent(ticket_id, cast(EventType, kind), at)


def clock_events(history: TicketHistory) -> list[TicketEvent]:
    """The SLA clock's input for ``history``, in time order (``created`` first)."""
    plan, timezone, country = ticket_place(history.decisions[0].content or {})
    first = history.decisions[0]
    events = [
        TicketEvent(
            history.id, "created", history.created_at, plan, first.severity, timezone, country
        )
    ]
    later: list[TicketEvent] = []
    severity = first.severity
    for decision in history.decisions[1:]:
        if decision.severity != severity:
            severity = decision.severity
            later.append(
                TicketEvent(
                    history.id,
                    "severity_changed",
                    max(decision.recorded_at, history.created_at),
                    severity=severity,
                    by=_BY.get(decision.kind, decision.kind),
                )
            )
    later.extend(_event(history.id, e.kind, e.at) for e in history.events)
    for escalation in history.escalations:
        if escalation.kind == "automatic":
            later.append(
                TicketEvent(
                    history.id,
                    "escalated",
                    escalation.at,
                    target=escalation.details["target"],
                    level=int(escalation.details["level"]),
                )
            )
    later.sort(key=lambda e: e.at)  # stable: same-instant events keep their recording order
    return events + later


@dataclass(frozen=True)
class SlaBridge:
    """The triager's SLA policies (loaded once with it) and the ticket clock over stored history."""

    triager: Triager

    @property
    def policies(self) -> SlaPolicies:
        return self.triager.sla

    @property
    def version(self) -> str:
        return self.policies.version

    def deadlines(
        self, content: dict[str, Any], severity: str, created_at: datetime
    ) -> dict[str, Any]:
        """The targets of ``severity`` counted from ``created_at``, as the triage result gives
        them (an SLA problem, e.g. a calendar that needs the country, is reported inside)."""
        ticket = Ticket(
            id=content["id"],
            body=content["body"],
            plan=content.get("plan"),
            timezone=content.get("timezone"),
            country=content.get("country"),
            created_at=created_at,
        )
        return self.triager.deadlines(ticket, severity, created_at)

    def state(self, history: TicketHistory, now: datetime) -> TicketSlaState:
        return TicketClock.replay(clock_events(history), until=now).state(self.policies, now)

    def status(self, history: TicketHistory, now: datetime) -> dict[str, Any]:
        """The SLA status at ``now`` as JSON, with ``next_due``: the earliest open deadline.
        A ticket the clock cannot time (no plan; no country for a holiday calendar) says why,
        in the same words as the intake result."""
        if not (history.decisions[0].content or {}).get("plan"):
            return {
                "ticket_id": history.id,
                "applies": False,
                "reason": "the ticket has no plan",
                "next_due": None,
            }
        try:
            state = self.state(history, now)
        except SlaError as exc:
            field, _, message = str(exc).partition(": ")
            error = {"code": "sla_error", "field": field, "message": message or str(exc)}
            return {"ticket_id": history.id, "applies": False, "error": error, "next_due": None}
        due = next_due(state)
        return {**state.as_dict(), "next_due": due.isoformat() if due else None}

    def check_event(self, history: TicketHistory, kind: str, at: datetime) -> None:
        """Refuse an event the clock cannot take (``InputError``): anything but ``reopened`` on
        a resolved ticket, ``reopened`` on an open one."""
        clock = TicketClock.replay(clock_events(history))
        if clock.resolved_at is not None and kind != "reopened":
            raise InputError(
                "ticket_resolved", f"the ticket is resolved; reopen it before {kind!r}", "kind"
            )
        events = [*clock_events(history), _event(history.id, kind, at)]
        TicketClock.replay(sorted(events, key=lambda e: e.at))

    @staticmethod
    def next_due_of(status: dict[str, Any]) -> datetime | None:
        value = status.get("next_due")
        return datetime.fromisoformat(value) if isinstance(value, str) else None


def next_due(state: TicketSlaState) -> datetime | None:
    """The earliest deadline of a target not yet completed (breached ones included)."""
    if not state.applies or not state.is_open:
        return None
    pending = [t.due for t in state.targets() if t.completed_at is None]
    return min(pending) if pending else None
