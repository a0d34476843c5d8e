"""The ticket clock: a ticket's SLA state at an instant ``now``, replayed from its events.

Events: ``created``, ``first_response_sent``, ``waiting_on_customer`` (pause),
``customer_replied`` (resume), ``severity_changed`` (by an agent or an accepted escalation),
``resolved``, ``reopened``, and ``escalated`` (an escalation already recorded).

Rules:
- waiting on the customer pauses the resolution clock only; the first-response clock never pauses;
- the time between ``resolved`` and ``reopened`` does not count either (a reopen resumes the clock);
- resolving a ticket that had no first response also completes the first response;
- a severity change recomputes the open targets from the original creation time with the new
  severity's durations, keeping the paused time; a target already met or breached keeps the verdict
  of the severity in force when it was completed.
Pure: ``now`` is a parameter; events after ``now`` are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from sevtriage.calendars import Place, add_open_time_utc, open_time_between, place
from sevtriage.config import SEVERITIES
from sevtriage.errors import InputError, SlaError
from sevtriage.sla import TARGETS, SlaPolicies, TargetSpec

EventType = Literal[
    "created",
    "first_response_sent",
    "waiting_on_customer",
    "customer_replied",
    "severity_changed",
    "resolved",
    "reopened",
    "escalated",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
Status = Literal["on_track", "at_risk", "breached", "met"]
_ZERO = timedelta(0)
Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class TicketEvent:
    """One event of a ticket. ``created`` carries plan, severity, timezone, country;
    ``severity_changed`` carries severity and by ("agent" or "escalation"); ``escalated`` carries
    target and level."""

    ticket_id: str
    type: EventType
    at: datetime
    plan: str | None = None
    severity: str | None = None
    timezone: str | None = None
    country: str | None = None
    by: str | None = None
    target: str | None = None
    level: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ticket_id": self.ticket_id, "type": self.type}
        out["at"] = self.at.isoformat()
        for key in ("plan", "severity", "timezone", "country", "by", "target", "level"):
            if (value := getattr(self, key)) is not None:
                out[key] = value
        return out


@dataclass(frozen=True)
class EscalationRecord:
    """An escalation already done: (ticket, target, level)."""

    ticket_id: str
    target: str
    level: int


def parse_instant(value: object, field: str) -> datetime:
    """An ISO-8601 instant with an offset; ``InputError`` naming ``field`` otherwise."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            msg = f"{value!r} is not an ISO-8601 date-time (e.g. 2026-11-13T15:00:00-06:00)"
            raise InputError("bad_datetime", msg, field) from None
    else:
        raise InputError("bad_datetime", "expected an ISO-8601 date-time string", field)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        msg = f"{value!s} has no UTC offset; add one (e.g. -06:00 or Z)"
        raise InputError("naive_datetime", msg, field)
    return parsed


def _text(record: Mapping[str, Any], key: str, required: bool) -> str | None:
    value = record.get(key)
    if value is None or value == "":
        if required:
            raise InputError("missing_field", "required for this event type", key)
        return None
    if not isinstance(value, str):
        raise InputError("bad_type", f"expected a string, got {type(value).__name__}", key)
    return value


def parse_event(record: Mapping[str, Any]) -> TicketEvent:
    """Validate one event record (e.g. a JSONL line); ``InputError`` names the bad field."""
    ticket_id = record.get("ticket_id")
    if isinstance(ticket_id, int) and not isinstance(ticket_id, bool):
        ticket_id = str(ticket_id)
    if not isinstance(ticket_id, str) or not ticket_id:
        raise InputError("missing_field", "a non-empty ticket id is required", "ticket_id")
    kind = record.get("type")
    if kind not in EVENT_TYPES:
        raise InputError("bad_event_type", f"{kind!r}; use one of {', '.join(EVENT_TYPES)}", "type")
    if "at" not in record:
        raise InputError("missing_field", "the event instant is required", "at")
    at = parse_instant(record["at"], "at")
    fields: dict[str, Any] = {}
    if kind == "created":
        fields["plan"] = _text(record, "plan", True)
        fields["timezone"] = _text(record, "timezone", True)
        fields["country"] = _text(record, "country", False)
        try:
            place(fields["timezone"], fields["country"])
        except SlaError as exc:
            field, _, message = str(exc).partition(": ")
            raise InputError(f"bad_{field}", message, field) from None
    if kind in ("created", "severity_changed"):
        fields["severity"] = _text(record, "severity", True)
        if fields["severity"] not in SEVERITIES:
            msg = f"{fields['severity']!r}; use one of {', '.join(SEVERITIES)}"
            raise InputError("bad_severity", msg, "severity")
        fields["by"] = _text(record, "by", False)
    if kind == "escalated":
        fields["target"] = _text(record, "target", True)
        if fields["target"] not in TARGETS:
            raise InputError("bad_target", f"use one of {', '.join(TARGETS)}", "target")
        level = record.get("level")
        if not isinstance(level, int) or isinstance(level, bool) or level < 1:
            raise InputError("bad_level", "expected a positive integer", "level")
        fields["level"] = level
    return TicketEvent(ticket_id, kind, at, **fields)


@dataclass(frozen=True)
class TargetState:
    """One target of a ticket at ``now``. Durations are open time on the target's calendar."""

    target: str
    severity: str
    calendar: str
    duration: timedelta
    due: datetime
    elapsed: timedelta
    remaining: timedelta
    """Negative once late: how much open time past the deadline."""
    status: Status
    paused: bool
    completed_at: datetime | None
    met_at: datetime | None
    breached_at: datetime | None

    @property
    def late_by(self) -> timedelta:
        return max(-self.remaining, _ZERO)

    def as_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "target": self.target,
            "severity": self.severity,
            "calendar": self.calendar,
            "duration_seconds": int(self.duration.total_seconds()),
            "due": self.due.isoformat(),
            "elapsed_seconds": int(self.elapsed.total_seconds()),
            "remaining_seconds": int(self.remaining.total_seconds()),
            "status": self.status,
            "paused": self.paused,
            "met_at": iso(self.met_at),
            "breached_at": iso(self.breached_at),
        }


@dataclass(frozen=True)
class TicketSlaState:
    """A ticket's SLA state at ``now``. ``applies`` is False (with ``reason``) for plans without
    an SLA, and then the targets are None."""

    ticket_id: str
    plan: str
    severity: str
    now: datetime
    created_at: datetime
    policy_version: str
    applies: bool
    reason: str | None
    assumed: bool
    is_open: bool
    waiting_on_customer: bool
    first_response: TargetState | None
    resolution: TargetState | None
    escalations: tuple[EscalationRecord, ...]

    def targets(self) -> tuple[TargetState, ...]:
        return tuple(t for t in (self.first_response, self.resolution) if t is not None)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ticket_id": self.ticket_id,
            "plan": self.plan,
            "severity": self.severity,
            "now": self.now.isoformat(),
            "policy_version": self.policy_version,
            "applies": self.applies,
        }
        if not self.applies:
            out["reason"] = self.reason
            return out
        out |= {"assumed": self.assumed, "open": self.is_open}
        out["waiting_on_customer"] = self.waiting_on_customer
        for target in self.targets():
            out[target.target] = target.as_dict()
        return out


@dataclass(frozen=True)
class TicketClock:
    """The SLA facts of one ticket, replayed from its events (use ``TicketClock.replay``)."""

    ticket_id: str
    plan: str
    timezone: str
    country: str | None
    created_at: datetime
    severities: tuple[tuple[datetime, str], ...]
    """(from instant, severity), the first at creation."""
    first_response_at: datetime | None
    stopped: tuple[Interval, ...]
    """Closed periods the resolution clock did not run (waited on the customer, was resolved)."""
    resolved_at: datetime | None
    waiting_since: datetime | None
    escalations: tuple[EscalationRecord, ...]

    @classmethod
    def replay(cls, events: Iterable[TicketEvent], until: datetime | None = None) -> TicketClock:
        """Fold the events of one ticket (in time order) up to ``until`` (inclusive).

        ``InputError`` for events out of order, a missing or repeated ``created``, another ticket's
        event, or a reopen of a ticket that is not resolved.
        """
        clock: TicketClock | None = None
        last: datetime | None = None
        for event in events:
            if last is not None and event.at < last:
                msg = f"{event.type} at {event.at.isoformat()} is before the previous event"
                raise InputError("events_out_of_order", msg, "at")
            last = event.at
            if until is not None and event.at > until:
                continue
            clock = cls._start(event) if clock is None else clock._apply(event)
        if clock is None and until is not None and last is not None:
            msg = f"the ticket has no event at or before {until.isoformat()}"
            raise InputError("before_creation", msg, "at")
        if clock is None:
            raise InputError("missing_created", "no 'created' event for this ticket", "type")
        return clock

    @classmethod
    def _start(cls, event: TicketEvent) -> TicketClock:
        if event.type != "created":
            msg = f"the first event must be 'created', not {event.type!r}"
            raise InputError("missing_created", msg, "type")
        if event.plan is None or event.severity is None or event.timezone is None:
            raise InputError("missing_field", "created needs plan, severity and timezone", "type")
        return cls(
            ticket_id=event.ticket_id,
            plan=event.plan,
            timezone=event.timezone,
            country=event.country,
            created_at=event.at.astimezone(UTC),
            severities=((event.at.astimezone(UTC), event.severity),),
            first_response_at=None,
            stopped=(),
            resolved_at=None,
            waiting_since=None,
            escalations=(),
        )

    def _apply(self, event: TicketEvent) -> TicketClock:
        at = event.at.astimezone(UTC)
        if event.ticket_id != self.ticket_id:
            msg = f"event of ticket {event.ticket_id!r} replayed on {self.ticket_id!r}"
            raise InputError("wrong_ticket", msg, "ticket_id")
        match event.type:
            case "created":
                raise InputError("duplicate_created", "the ticket was already created", "type")
            case "first_response_sent":
                return self if self.first_response_at else replace(self, first_response_at=at)
            case "waiting_on_customer":
                return self if self.waiting_since else replace(self, waiting_since=at)
            case "customer_replied":
                if self.waiting_since is None:
                    return self
                stopped = (*self.stopped, (self.waiting_since, at))
                return replace(self, stopped=stopped, waiting_since=None)
            case "severity_changed":
                assert event.severity is not None
                return replace(self, severities=(*self.severities, (at, event.severity)))
            case "resolved":
                if self.resolved_at is not None:
                    return self
                # A resolution answers the customer: it also completes a missing first response.
                return replace(self, resolved_at=at, first_response_at=self.first_response_at or at)
            case "reopened":
                if self.resolved_at is None:
                    raise InputError(
                        "not_resolved", "reopened a ticket that is not resolved", "type"
                    )
                stopped = (*self.stopped, (self.resolved_at, at))
                return replace(self, stopped=stopped, resolved_at=None)
            case "escalated":
                assert event.target is not None and event.level is not None
                record = EscalationRecord(self.ticket_id, event.target, event.level)
                return replace(self, escalations=(*self.escalations, record))
        raise AssertionError(event.type)  # pragma: no cover

    def severity_at(self, instant: datetime) -> str:
        current = self.severities[0][1]
        for since, severity in self.severities:
            if since <= instant:
                current = severity
        return current

    def state(self, policies: SlaPolicies, now: datetime) -> TicketSlaState:
        """The SLA state at ``now`` (an aware datetime, at or after the replayed events)."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise SlaError("now: needs a UTC offset")
        now_utc = now.astimezone(UTC)
        where = place(self.timezone, self.country)
        policy = policies.policy(self.plan)
        severity = self.severity_at(now_utc)
        state = TicketSlaState(
            ticket_id=self.ticket_id,
            plan=self.plan,
            severity=severity,
            now=now_utc.astimezone(where.zone),
            created_at=self.created_at.astimezone(where.zone),
            policy_version=policies.version,
            applies=False,
            reason=policies.no_sla_reason(self.plan),
            assumed=False,
            is_open=self.resolved_at is None,
            waiting_on_customer=self.waiting_since is not None,
            first_response=None,
            resolution=None,
            escalations=self.escalations,
        )
        if policy is None:
            return state
        stopped = list(self.stopped)
        if self.waiting_since is not None:
            stopped.append((self.waiting_since, now_utc))
        if self.resolved_at is not None:
            stopped.append((self.resolved_at, now_utc))
        first = self._target(policies, "first_response", self.first_response_at, [], now_utc, where)
        resolution = self._target(policies, "resolution", self.resolved_at, stopped, now_utc, where)
        return replace(
            state,
            applies=True,
            reason=None,
            assumed=policy.assumed,
            first_response=first,
            resolution=resolution,
        )

    def _target(
        self,
        policies: SlaPolicies,
        name: str,
        completed: datetime | None,
        stopped: list[Interval],
        now: datetime,
        where: Place,
    ) -> TargetState:
        end = completed if completed is not None else now
        severity = self.severity_at(end)
        spec = policies.target(self.plan, severity, name)
        gaps = _merge([(a, min(b, end)) for a, b in stopped if a < end])
        due = deadline_with_gaps(spec, where, self.created_at, gaps)
        elapsed = open_time_between(spec.calendar, where, self.created_at, end) - sum(
            (open_time_between(spec.calendar, where, a, b) for a, b in gaps), _ZERO
        )
        status: Status
        if completed is not None:
            status = "met" if completed <= due else "breached"
        elif now > due:
            status = "breached"
        elif elapsed >= spec.duration * policies.at_risk_share:
            status = "at_risk"
        else:
            status = "on_track"
        zone = where.zone
        return TargetState(
            target=name,
            severity=severity,
            calendar=spec.calendar.name,
            duration=spec.duration,
            due=due.astimezone(zone),
            elapsed=elapsed,
            remaining=spec.duration - elapsed,
            status=status,
            paused=name == "resolution" and completed is None and self.waiting_since is not None,
            completed_at=completed.astimezone(zone) if completed else None,
            met_at=completed.astimezone(zone) if status == "met" and completed else None,
            breached_at=due.astimezone(zone) if status == "breached" else None,
        )


def _merge(intervals: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in sorted(intervals):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def deadline_with_gaps(
    spec: TargetSpec, where: Place, start: datetime, gaps: list[Interval]
) -> datetime:
    """When ``spec.duration`` of open time has run from ``start``, skipping the (sorted, disjoint)
    ``gaps`` in which the clock was stopped. UTC in, UTC out."""
    remaining = spec.duration
    cursor = start
    for a, b in gaps:
        if b <= cursor:
            continue
        if a > cursor:
            available = open_time_between(spec.calendar, where, cursor, a)
            if remaining <= available:
                break
            remaining -= available
        cursor = max(cursor, b)
    return add_open_time_utc(spec.calendar, where, cursor, remaining)


def sla_state(
    events: Iterable[TicketEvent], policies: SlaPolicies, now: datetime
) -> TicketSlaState:
    """Replay one ticket's events up to ``now`` and give its SLA state at ``now``."""
    return TicketClock.replay(events, until=now).state(policies, now)
