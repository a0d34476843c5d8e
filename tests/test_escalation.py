"""Escalation: the automatic sweep (levels, idempotence) and customer-requested re-assessment."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sevtriage.clock import TicketEvent, parse_event, sla_state
from sevtriage.errors import InputError
from sevtriage.escalation import (
    IMPACT_SIGNALS,
    EscalationRequest,
    Rescorer,
    StatedImpact,
    decide_escalation_request,
    impact_signals,
    sweep,
    sweep_events,
)
from sevtriage.sla import SlaPolicies
from sevtriage.triage import Triager

RULES = Path(__file__).resolve().parents[1] / "rules"


@pytest.fixture(scope="module")
def policies() -> SlaPolicies:
    return SlaPolicies.load(RULES)


@pytest.fixture(scope="module")
def rescore() -> Rescorer:
    """The real severity rules (durable-rules engine), as the lead's ``rescore_impact`` uses them."""
    return Triager(RULES, model=None).rescore_impact


def t(clock_time: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-11T{clock_time}:00-06:00")


def ev(ticket: str, kind: str, when: datetime, **fields: Any) -> TicketEvent:
    return parse_event({"ticket_id": ticket, "type": kind, "at": when.isoformat(), **fields})


def created(ticket: str, severity: str, plan: str = "business_plus") -> TicketEvent:
    return ev(
        ticket,
        "created",
        t("10:00"),
        plan=plan,
        severity=severity,
        timezone="America/Mexico_City",
        country="MX",
    )


def run_sweep(policies: SlaPolicies, events: list[TicketEvent], now: datetime, **kw: Any) -> list[Any]:  # fmt: skip
    return sweep([sla_state(events, policies, now)], policies.escalation, now, **kw)


def test_first_response_at_risk_escalates_to_level_one(policies: SlaPolicies) -> None:
    (only,) = run_sweep(policies, [created("A", "P2")], t("10:50"))
    assert (only.ticket_id, only.target, only.level, only.status) == (
        "A",
        "first_response",
        1,
        "at_risk",
    )
    assert only.actions == ("notify",) and only.late_by == timedelta(0)
    assert only.priority_to == "P2"


def test_breach_escalates_to_level_two_raising_priority_one_step(policies: SlaPolicies) -> None:
    (only,) = run_sweep(policies, [created("A", "P2")], t("11:10"))
    assert (only.target, only.level, only.status) == ("first_response", 2, "breached")
    assert only.late_by == timedelta(minutes=10)
    assert only.due == t("11:00")
    assert (only.priority_from, only.priority_to) == ("P2", "P1")
    assert "raise_level" in only.actions
    data = only.as_dict()
    assert data["late_by_seconds"] == 600 and data["priority"] == {"from": "P2", "to": "P1"}


def test_long_breach_escalates_to_level_three(policies: SlaPolicies) -> None:
    found = run_sweep(policies, [created("A", "P2")], t("15:10"))
    assert [(e.target, e.level) for e in found] == [("first_response", 3)]


def test_sweep_twice_escalates_nothing_twice(policies: SlaPolicies) -> None:
    events = [created("A", "P2"), created("B", "P1")]
    by_ticket = [[e] for e in events]
    states = [sla_state(es, policies, t("13:10")) for es in by_ticket]
    first = sweep(states, policies.escalation, t("13:10"))
    assert {(e.ticket_id, e.target) for e in first} == {
        ("A", "first_response"),
        ("B", "first_response"),
        ("B", "resolution"),
    }
    assert {(e.ticket_id, e.target): e.level for e in first}[("B", "resolution")] == 1
    again = sweep(states, policies.escalation, t("13:10"), already=[e.record for e in first])
    assert again == []


def test_a_higher_level_is_still_escalated_after_a_lower_one(policies: SlaPolicies) -> None:
    events = [created("A", "P2")]
    level_one = run_sweep(policies, events, t("10:50"))
    later = run_sweep(policies, events, t("11:10"), already=[e.record for e in level_one])
    assert [(e.level, e.status) for e in later] == [(2, "breached")]


def test_escalated_events_in_the_history_count_as_recorded(policies: SlaPolicies) -> None:
    first = run_sweep(policies, [created("A", "P2")], t("11:10"))
    history = [created("A", "P2"), *(e.as_event() for e in first)]
    assert run_sweep(policies, history, t("11:10")) == []


def test_met_resolved_and_no_sla_tickets_are_not_escalated(policies: SlaPolicies) -> None:
    answered = [created("A", "P2"), ev("A", "first_response_sent", t("10:20"))]
    resolved = [created("B", "P1"), ev("B", "resolved", t("10:20"))]
    free = [created("C", "P1", plan="free")]
    now = t("10:55")
    states = [sla_state(es, policies, now) for es in (answered, resolved, free)]
    assert sweep(states, policies.escalation, now) == []


def test_sweep_events_reports_bad_and_no_sla_tickets_and_goes_on(policies: SlaPolicies) -> None:
    events = [
        created("A", "P2"),
        ev("B", "resolved", t("10:00")),  # no 'created'
        created("C", "P1", plan="free"),
    ]
    result = sweep_events(events, policies, t("11:10"))
    assert [e.ticket_id for e in result.escalations] == ["A"]
    problems = {p.ticket_id: (p.code, p.field) for p in result.problems}
    assert problems == {"B": ("missing_created", "type"), "C": ("no_sla_policy", "plan")}


# --- customer-requested escalation ------------------------------------------------------------


def request(ticket: str, when: str, **impact: Any) -> EscalationRequest:
    return EscalationRequest(ticket, t(when), StatedImpact(**impact))


def fixed_rescore(severity: str | None) -> Rescorer:
    """A deterministic stand-in for the severity rules: always answers ``severity``."""

    def rescore(signals: Mapping[str, bool], text: str) -> tuple[str | None, list[str]]:
        assert set(signals) == set(IMPACT_SIGNALS)
        return severity, [f"stub.{severity}"] if severity else []

    return rescore


def never_called(signals: Mapping[str, bool], text: str) -> tuple[str | None, list[str]]:
    raise AssertionError("the rules must not run for a refused plan")


def test_service_down_request_is_accepted_and_deadlines_recomputed_from_creation(
    policies: SlaPolicies, rescore: Rescorer
) -> None:
    events = [created("A", "P3"), ev("A", "first_response_sent", t("10:30"))]
    impact = {"service_down": True, "workaround": "none", "users_affected": "all"}
    decision = decide_escalation_request(events, request("A", "11:00", **impact), policies, rescore)
    assert decision.accepted and decision.rescored_severity == "P1"
    assert decision.severity_before == "P3" and decision.severity_after == "P1"
    assert decision.fired_rules and "outage" in decision.signals
    assert decision.event is not None
    assert (decision.event.type, decision.event.severity, decision.event.by) == (
        "severity_changed",
        "P1",
        "escalation",
    )
    assert decision.state_after is not None and decision.state_after.resolution is not None
    assert decision.state_after.resolution.due == t("14:00")  # 4 h from creation, not from 11:00
    data = decision.as_dict()
    assert data["accepted"] is True and data["deadlines"]["resolution"] == t("14:00").isoformat()
    # Appending the decision's event to the history gives the same state.
    after = sla_state([*events, decision.event], policies, t("11:00"))
    assert after.severity == "P1" and after.resolution == decision.state_after.resolution


def test_request_not_above_the_current_severity_is_refused_with_reason(
    policies: SlaPolicies, rescore: Rescorer
) -> None:
    impact = {"partially_broken": True, "workaround": "acceptable"}
    decision = decide_escalation_request(
        [created("A", "P2")], request("A", "11:00", **impact), policies, rescore
    )
    assert not decision.accepted and decision.event is None
    assert decision.rescored_severity == "P3" and decision.severity_after == "P2"
    assert decision.reason == "stated impact scores P3, not above the current P2"


def test_request_matching_no_rule_is_refused(policies: SlaPolicies, rescore: Rescorer) -> None:
    decision = decide_escalation_request(
        [created("A", "P3")], request("A", "11:00"), policies, rescore
    )
    assert not decision.accepted and decision.rescored_severity is None
    assert decision.reason == "the stated impact matches no severity rule"


def test_other_plans_get_a_clear_refusal(policies: SlaPolicies) -> None:
    decision = decide_escalation_request(
        [created("A", "P4", plan="pro")],
        request("A", "11:00", service_down=True),
        policies,
        never_called,
    )
    assert not decision.accepted
    assert decision.reason == "plan 'pro' may not request escalations (only: business_plus)"
    assert decision.as_dict()["accepted"] is False


def test_resolved_ticket_request_is_refused(policies: SlaPolicies) -> None:
    events = [created("A", "P4"), ev("A", "resolved", t("10:30"))]
    decision = decide_escalation_request(
        events, request("A", "11:00", service_down=True), policies, never_called
    )
    assert not decision.accepted and "reopen" in decision.reason


@pytest.mark.parametrize(
    ("current", "rescored", "accepted"),
    [("P4", "P3", True), ("P2", "P1", True), ("P2", "P2", False), ("P1", "P1", False)],
)
def test_only_a_strictly_higher_severity_is_applied(
    policies: SlaPolicies, current: str, rescored: str, accepted: bool
) -> None:
    decision = decide_escalation_request(
        [created("A", current)], request("A", "11:00"), policies, fixed_rescore(rescored)
    )
    assert decision.accepted is accepted
    assert decision.severity_after == (rescored if accepted else current)


def test_stated_impact_maps_onto_every_signal_name() -> None:
    impact = StatedImpact(
        data_lost=True, users_affected="few", workaround="insufficient", text="we lost contacts"
    )
    facts = impact_signals(impact)
    assert list(facts) == list(IMPACT_SIGNALS)
    assert {name for name, value in facts.items() if value} == {
        "data_loss",
        "limited_scope",
        "workaround",
        "workaround_insufficient",
    }


def test_bad_stated_impact_names_the_field() -> None:
    with pytest.raises(InputError) as caught:
        StatedImpact.parse({"users_affected": "everyone"})
    assert caught.value.field == "impact.users_affected"
    with pytest.raises(InputError) as unknown:
        StatedImpact.parse({"on_fire": True})
    assert unknown.value.field == "impact.on_fire"
