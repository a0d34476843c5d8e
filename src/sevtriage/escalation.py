"""Escalation: the automatic sweep over open tickets, and customer-requested re-assessment.

Both are pure. ``sweep`` takes the escalations already recorded and returns only new ones, so
running it twice escalates nothing twice. ``decide_escalation_request`` re-scores the customer's
stated impact with the severity rules (a ``rescore`` callable, e.g.
``sevtriage.triage.rescore_impact``) and returns the decision with its reason, accepted or not; the
caller records it (and, if accepted, appends ``decision.event`` to the ticket's events).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from sevtriage.clock import (
    EscalationRecord,
    TargetState,
    TicketEvent,
    TicketSlaState,
    sla_state,
)
from sevtriage.config import SEVERITIES
from sevtriage.errors import InputError, SevtriageError
from sevtriage.sla import EscalationLevel, EscalationPolicy, SlaPolicies

# The lead's signal vocabulary that a stated impact maps onto (all booleans, unset = False).
IMPACT_SIGNALS: tuple[str, ...] = (
    "outage",
    "data_loss",
    "business_stopped",
    "degradation",
    "feature_unavailable",
    "partial_malfunction",
    "workaround",
    "workaround_insufficient",
    "no_workaround",
    "limited_scope",
    "widespread",
    "question",
    "training_request",
    "documentation_request",
    "minor_issue",
    "feature_request",
    "not_urgent",
    "urgency_claim",
)
Rescorer = Callable[[Mapping[str, bool], str], tuple[str | None, list[str]]]
"""(signal facts, free text) -> (severity, or None when no rule fires; ids of the fired rules)."""


@dataclass(frozen=True)
class Escalation:
    """One new escalation found by ``sweep``."""

    ticket_id: str
    target: str
    level: int
    status: str
    severity: str
    due: datetime
    late_by: timedelta
    """Open time past the deadline (zero when only at risk)."""
    remaining: timedelta
    actions: tuple[str, ...]
    notify: tuple[str, ...]
    priority_from: str
    priority_to: str
    at: datetime
    policy_version: str

    @property
    def record(self) -> EscalationRecord:
        return EscalationRecord(self.ticket_id, self.target, self.level)

    def as_event(self) -> TicketEvent:
        """The ``escalated`` event that records this escalation in the ticket's history."""
        return TicketEvent(
            self.ticket_id, "escalated", self.at, target=self.target, level=self.level
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "ticket_id": self.ticket_id,
            "target": self.target,
            "level": self.level,
            "status": self.status,
            "severity": self.severity,
            "due": self.due.isoformat(),
            "late_by_seconds": int(self.late_by.total_seconds()),
            "remaining_seconds": int(self.remaining.total_seconds()),
            "actions": list(self.actions),
            "notify": list(self.notify),
            "priority": {"from": self.priority_from, "to": self.priority_to},
            "at": self.at.isoformat(),
            "policy_version": self.policy_version,
        }


def _holds(level: EscalationLevel, target: TargetState) -> bool:
    if level.when == "at_risk":
        return target.status in ("at_risk", "breached")
    return target.status == "breached" and target.late_by >= level.late_by


def _level_reached(
    target: TargetState, levels: Sequence[EscalationLevel]
) -> EscalationLevel | None:
    reached = [level for level in levels if _holds(level, target)]
    return reached[-1] if reached else None


def raise_priority(severity: str) -> str:
    """One step more urgent: P4 -> P3 -> P2 -> P1 (P1 stays P1)."""
    return SEVERITIES[max(SEVERITIES.index(severity) - 1, 0)]


def sweep(
    states: Iterable[TicketSlaState],
    policy: EscalationPolicy,
    now: datetime,
    already: Iterable[EscalationRecord] = (),
) -> list[Escalation]:
    """New escalations at ``now``: per open target at risk or breached, the highest level reached
    that is above every level already recorded for it (in ``already`` or the ticket's own
    ``escalated`` events)."""
    done: dict[tuple[str, str], int] = {}
    states = list(states)
    for rec in (*already, *(r for s in states for r in s.escalations)):
        key = (rec.ticket_id, rec.target)
        done[key] = max(done.get(key, 0), rec.level)
    out: list[Escalation] = []
    for state in states:
        if not state.applies or not state.is_open:
            continue
        for target in state.targets():
            if target.target not in policy.targets or target.status in ("met", "on_track"):
                continue
            level = _level_reached(target, policy.levels)
            if level is None or level.level <= done.get((state.ticket_id, target.target), 0):
                continue
            to = raise_priority(state.severity) if "raise_priority" in level.actions else None
            out.append(
                Escalation(
                    ticket_id=state.ticket_id,
                    target=target.target,
                    level=level.level,
                    status=target.status,
                    severity=state.severity,
                    due=target.due,
                    late_by=target.late_by,
                    remaining=target.remaining,
                    actions=level.actions,
                    notify=level.notify,
                    priority_from=state.severity,
                    priority_to=to or state.severity,
                    at=now.astimezone(target.due.tzinfo),
                    policy_version=state.policy_version,
                )
            )
    return out


@dataclass(frozen=True)
class TicketProblem:
    """A ticket the sweep could not evaluate (bad events), or one with no SLA policy."""

    ticket_id: str
    code: str
    field: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "ticket_id": self.ticket_id,
            "code": self.code,
            "field": self.field,
            "message": self.message,
        }


@dataclass(frozen=True)
class SweepResult:
    escalations: list[Escalation]
    problems: list[TicketProblem] = field(default_factory=list)
    """Tickets skipped: bad events (an error) or no SLA policy (code ``no_sla_policy``)."""


def group_by_ticket(events: Iterable[TicketEvent]) -> dict[str, list[TicketEvent]]:
    """Events per ticket, each list in the given order."""
    out: dict[str, list[TicketEvent]] = {}
    for event in events:
        out.setdefault(event.ticket_id, []).append(event)
    return out


def sweep_events(
    events: Iterable[TicketEvent],
    policies: SlaPolicies,
    now: datetime,
    already: Iterable[EscalationRecord] = (),
) -> SweepResult:
    """Replay each ticket's events to ``now`` and sweep them; a bad ticket is reported."""
    states: list[TicketSlaState] = []
    problems: list[TicketProblem] = []
    for ticket_id, ticket_events in group_by_ticket(events).items():
        try:
            state = sla_state(ticket_events, policies, now)
        except InputError as exc:
            problems.append(TicketProblem(ticket_id, exc.code, exc.field, exc.message))
            continue
        except SevtriageError as exc:
            field_name, _, message = str(exc).partition(": ")
            problems.append(TicketProblem(ticket_id, "sla_error", field_name, message or str(exc)))
            continue
        if not state.applies:
            problems.append(TicketProblem(ticket_id, "no_sla_policy", "plan", state.reason or ""))
        states.append(state)
    return SweepResult(sweep(states, policies.escalation, now, already), problems)


class StatedImpact(BaseModel):
    """What the customer says the real impact is, when asking for an escalation."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    service_down: bool = False
    data_lost: bool = False
    business_stopped: bool = False
    performance_degraded: bool = False
    feature_unavailable: bool = False
    partially_broken: bool = False
    users_affected: Literal["one", "few", "many", "all"] | None = None
    workaround: Literal["none", "insufficient", "acceptable"] | None = None
    text: str = ""

    @classmethod
    def parse(cls, record: Mapping[str, Any]) -> StatedImpact:
        """Validate a request's impact; ``InputError`` names the first bad field."""
        try:
            return cls.model_validate(dict(record))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"]) or None
            raise InputError(
                "bad_impact", err["msg"], f"impact.{loc}" if loc else "impact"
            ) from None


def impact_signals(impact: StatedImpact) -> dict[str, bool]:
    """Map a stated impact onto the severity rules' signal facts (unset ones False)."""
    facts = dict.fromkeys(IMPACT_SIGNALS, False)
    facts["outage"] = impact.service_down
    facts["data_loss"] = impact.data_lost
    facts["business_stopped"] = impact.business_stopped
    facts["degradation"] = impact.performance_degraded
    facts["feature_unavailable"] = impact.feature_unavailable
    facts["partial_malfunction"] = impact.partially_broken
    facts["limited_scope"] = impact.users_affected in ("one", "few")
    facts["widespread"] = impact.users_affected in ("many", "all")
    facts["no_workaround"] = impact.workaround == "none"
    facts["workaround"] = impact.workaround in ("insufficient", "acceptable")
    facts["workaround_insufficient"] = impact.workaround == "insufficient"
    return facts


@dataclass(frozen=True)
class EscalationRequest:
    ticket_id: str
    at: datetime
    impact: StatedImpact


@dataclass(frozen=True)
class EscalationDecision:
    """The outcome of a customer's escalation request, to be recorded whether accepted or not."""

    ticket_id: str
    at: datetime
    plan: str
    accepted: bool
    reason: str
    severity_before: str
    rescored_severity: str | None
    fired_rules: tuple[str, ...]
    signals: tuple[str, ...]
    """The signal facts that were true."""
    policy_version: str
    event: TicketEvent | None = None
    """If accepted: the ``severity_changed`` event (by "escalation") to append to the ticket."""
    state_after: TicketSlaState | None = None
    """If accepted: the SLA state with the deadlines recomputed for the new severity."""

    @property
    def severity_after(self) -> str:
        if self.event is not None and self.event.severity is not None:
            return self.event.severity
        return self.severity_before

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ticket_id": self.ticket_id,
            "at": self.at.isoformat(),
            "plan": self.plan,
            "accepted": self.accepted,
            "reason": self.reason,
            "severity_before": self.severity_before,
            "severity_after": self.severity_after,
            "rescored_severity": self.rescored_severity,
            "fired_rules": list(self.fired_rules),
            "signals": list(self.signals),
            "policy_version": self.policy_version,
        }
        if self.state_after is not None:
            out["deadlines"] = {t.target: t.due.isoformat() for t in self.state_after.targets()}
        return out


def decide_escalation_request(
    events: Sequence[TicketEvent],
    request: EscalationRequest,
    policies: SlaPolicies,
    rescore: Rescorer,
) -> EscalationDecision:
    """Re-score the stated impact; apply a strictly higher severity, refuse otherwise, with reasons.

    Refused: plans not allowed to request (``escalation.yaml`` customer_requests.plans), resolved
    tickets, impacts no rule scores, and re-scores not above the current severity.
    """
    state = sla_state(events, policies, request.at)
    facts = impact_signals(request.impact)
    true_facts = tuple(name for name, value in facts.items() if value)

    def decision(
        accepted: bool,
        reason: str,
        rescored: str | None = None,
        fired: Sequence[str] = (),
        event: TicketEvent | None = None,
        after: TicketSlaState | None = None,
    ) -> EscalationDecision:
        return EscalationDecision(
            request.ticket_id, request.at, state.plan, accepted, reason, state.severity,
            rescored, tuple(fired), true_facts, policies.version, event, after,
        )  # fmt: skip

    allowed = policies.escalation.request_plans
    if state.plan not in allowed:
        plans = ", ".join(sorted(allowed)) or "none"
        return decision(False, f"plan {state.plan!r} may not request escalations (only: {plans})")
    if not state.is_open:
        return decision(False, "the ticket is resolved; reopen it before requesting escalation")
    severity, fired = rescore(facts, request.impact.text)
    if severity is None:
        return decision(False, "the stated impact matches no severity rule", None, fired)
    if SEVERITIES.index(severity) >= SEVERITIES.index(state.severity):
        reason = f"stated impact scores {severity}, not above the current {state.severity}"
        return decision(False, reason, severity, fired)
    event = TicketEvent(
        request.ticket_id, "severity_changed", request.at, severity=severity, by="escalation"
    )
    after = sla_state([*events, event], policies, request.at)
    reason = f"stated impact scores {severity}, above the current {state.severity}"
    return decision(True, reason, severity, fired, event, after)
