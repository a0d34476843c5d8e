"""What the store reads back: plain frozen records, one per row, and a ticket's whole history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class NewTicket:
    """The immutable facts of a ticket, written once by the first intake."""

    id: str
    created_at: datetime


@dataclass(frozen=True)
class NewDecision:
    """A severity decision to append: intake, update, review, escalation_request, escalation."""

    kind: str
    severity: str
    source: str
    confidence: float
    needs_review: bool
    deadlines: dict[str, Any]
    language: str | None = None
    reasons: list[dict[str, Any]] = field(default_factory=list)
    signals: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str | None] = field(default_factory=dict)
    previous_severity: str | None = None
    content_hash: str | None = None
    content: dict[str, Any] | None = None
    note: str | None = None


@dataclass(frozen=True)
class Decision:
    seq: int
    kind: str
    severity: str
    previous_severity: str | None
    source: str
    confidence: float
    needs_review: bool
    language: str | None
    reasons: list[dict[str, Any]]
    signals: dict[str, Any]
    versions: dict[str, str | None]
    deadlines: dict[str, Any]
    content_hash: str | None
    content: dict[str, Any] | None
    note: str | None
    actor: str
    recorded_at: datetime


@dataclass(frozen=True)
class Event:
    seq: int
    kind: str
    at: datetime
    note: str | None
    actor: str
    recorded_at: datetime


@dataclass(frozen=True)
class Review:
    seq: int
    decision_seq: int
    reviewed_decision_seq: int
    agent: str
    action: str
    previous_severity: str
    severity: str
    reason: str | None
    recorded_at: datetime


@dataclass(frozen=True)
class NewEscalation:
    kind: str  # automatic | requested
    dedupe_key: str
    trigger: str
    outcome: str
    from_severity: str
    to_severity: str
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Escalation:
    seq: int
    kind: str
    dedupe_key: str
    trigger: str
    outcome: str
    from_severity: str
    to_severity: str
    decision_seq: int | None
    details: dict[str, Any]
    at: datetime
    actor: str
    recorded_at: datetime


@dataclass(frozen=True)
class TicketHistory:
    """Everything recorded about one ticket, each list in recording order."""

    id: str
    created_at: datetime
    received_at: datetime
    received_by: str
    decisions: tuple[Decision, ...]
    events: tuple[Event, ...] = ()
    reviews: tuple[Review, ...] = ()
    escalations: tuple[Escalation, ...] = ()

    @property
    def current(self) -> Decision:
        """The decision in force: the latest one."""
        return self.decisions[-1]

    @property
    def content_decision(self) -> Decision:
        """The latest decision that carries the ticket as posted (intake or update)."""
        return next(d for d in reversed(self.decisions) if d.content is not None)

    @property
    def content(self) -> dict[str, Any]:
        content = self.content_decision.content
        assert content is not None
        return content
