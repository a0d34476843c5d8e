"""The ticket clock: pauses, severity changes, reopen, statuses, and event validation."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.clock import TicketClock, TicketEvent, parse_event, sla_state
from sevtriage.errors import InputError
from sevtriage.sla import SlaPolicies

RULES = Path(__file__).resolve().parents[1] / "rules"
DAY = "2026-11-11"  # a Wednesday in Mexico City, no holiday nearby


@pytest.fixture(scope="module")
def policies() -> SlaPolicies:
    return SlaPolicies.load(RULES)


def t(clock_time: str, day: str = DAY) -> datetime:
    return datetime.fromisoformat(f"{day}T{clock_time}:00-06:00")


def ev(kind: str, when: datetime, **fields: Any) -> TicketEvent:
    return parse_event({"ticket_id": "T1", "type": kind, "at": when.isoformat(), **fields})


def created(severity: str = "P2", when: str = "10:00", plan: str = "business_plus") -> TicketEvent:
    return ev(
        "created",
        t(when),
        plan=plan,
        severity=severity,
        timezone="America/Mexico_City",
        country="MX",
    )


def test_fresh_ticket_is_on_track_with_exact_elapsed_and_remaining(policies: SlaPolicies) -> None:
    state = sla_state([created("P2")], policies, t("12:00"))
    assert state.resolution is not None and state.first_response is not None
    assert state.resolution.due == t("18:00")
    assert state.resolution.elapsed == timedelta(hours=2)
    assert state.resolution.remaining == timedelta(hours=6)
    assert state.resolution.status == "on_track"
    assert state.first_response.status == "breached"  # 1 h first response, none sent
    assert state.first_response.breached_at == t("11:00")


def test_target_is_at_risk_after_three_quarters_elapsed(policies: SlaPolicies) -> None:
    assert sla_state([created("P2")], policies, t("15:59")).resolution.status == "on_track"  # type: ignore[union-attr]
    assert sla_state([created("P2")], policies, t("16:00")).resolution.status == "at_risk"  # type: ignore[union-attr]


def test_first_response_met_records_when(policies: SlaPolicies) -> None:
    events = [created("P2"), ev("first_response_sent", t("10:40"))]
    first = sla_state(events, policies, t("12:00")).first_response
    assert first is not None
    assert first.status == "met" and first.met_at == t("10:40") and first.breached_at is None
    assert first.elapsed == timedelta(minutes=40)


def test_late_first_response_is_breached_at_its_deadline(policies: SlaPolicies) -> None:
    events = [created("P2"), ev("first_response_sent", t("11:20"))]
    first = sla_state(events, policies, t("12:00")).first_response
    assert first is not None
    assert first.status == "breached" and first.breached_at == t("11:00") and first.met_at is None
    assert first.late_by == timedelta(minutes=20)


def test_waiting_on_customer_pauses_only_the_resolution_clock(policies: SlaPolicies) -> None:
    events = [
        created("P2"),
        ev("waiting_on_customer", t("10:10")),
        ev("customer_replied", t("12:10")),
    ]
    state = sla_state(events, policies, t("13:00"))
    assert state.resolution is not None and state.first_response is not None
    assert state.resolution.due == t("20:00")  # 8 h + 2 h paused
    assert state.resolution.elapsed == timedelta(hours=1)
    assert state.first_response.due == t("11:00")  # never paused
    assert state.first_response.status == "breached"


def test_ongoing_pause_freezes_remaining_and_projects_the_deadline(policies: SlaPolicies) -> None:
    events = [created("P2"), ev("waiting_on_customer", t("12:00"))]
    state = sla_state(events, policies, t("15:00"))
    assert state.waiting_on_customer and state.resolution is not None
    assert state.resolution.paused
    assert state.resolution.remaining == timedelta(hours=6)
    assert state.resolution.due == t("21:00")  # if the customer replied now


def test_severity_change_recomputes_from_creation_keeping_the_pause(
    policies: SlaPolicies,
) -> None:
    events = [
        created("P3"),
        ev("first_response_sent", t("10:30")),
        ev("waiting_on_customer", t("11:00")),
        ev("customer_replied", t("13:00")),
        ev("severity_changed", t("14:00"), severity="P1", by="agent"),
    ]
    state = sla_state(events, policies, t("15:00"))
    assert state.severity == "P1" and state.resolution is not None
    # P1 resolution is 4 h from the original 10:00, plus the 2 h paused: 16:00 (not 18:00).
    assert state.resolution.due == t("16:00")
    assert state.resolution.severity == "P1"
    assert state.resolution.elapsed == timedelta(hours=3)  # 3/4 of 4 h
    assert state.resolution.status == "at_risk"
    # The first response, met under P3 (2 h), keeps its verdict under the later P1 (30 min).
    assert state.first_response is not None
    assert state.first_response.status == "met" and state.first_response.severity == "P3"


def test_severity_raised_past_the_new_deadline_is_breached_at_once(
    policies: SlaPolicies,
) -> None:
    events = [created("P4"), ev("severity_changed", t("15:00"), severity="P1", by="agent")]
    state = sla_state(events, policies, t("15:01"))
    assert state.resolution is not None
    assert state.resolution.status == "breached" and state.resolution.breached_at == t("14:00")


def test_reopen_resumes_the_resolution_clock(policies: SlaPolicies) -> None:
    events = [
        created("P1"),
        ev("first_response_sent", t("10:05")),
        ev("resolved", t("11:00")),
        ev("reopened", t("15:00")),
    ]
    resolved_state = sla_state(events[:3], policies, t("12:00"))
    assert resolved_state.resolution is not None and not resolved_state.is_open
    assert resolved_state.resolution.status == "met"
    assert resolved_state.resolution.met_at == t("11:00")
    state = sla_state(events, policies, t("16:00"))
    assert state.is_open and state.resolution is not None
    assert state.resolution.due == t("18:00")  # 1 h before, 4 h off while resolved
    assert state.resolution.elapsed == timedelta(hours=2)
    assert state.resolution.status == "on_track"


def test_final_resolution_after_the_deadline_is_breached(policies: SlaPolicies) -> None:
    events = [
        created("P1"),
        ev("first_response_sent", t("10:05")),
        ev("resolved", t("11:00")),
        ev("reopened", t("12:00")),
        ev("resolved", t("16:00")),
    ]
    resolution = sla_state(events, policies, t("17:00")).resolution
    assert resolution is not None
    assert resolution.status == "breached" and resolution.breached_at == t("15:00")
    assert resolution.late_by == timedelta(hours=1)


def test_resolution_without_first_response_also_answers_the_customer(
    policies: SlaPolicies,
) -> None:
    events = [created("P2"), ev("resolved", t("10:50"))]
    first = sla_state(events, policies, t("12:00")).first_response
    assert first is not None and first.status == "met" and first.met_at == t("10:50")


def test_events_after_now_are_ignored(policies: SlaPolicies) -> None:
    events = [created("P2"), ev("resolved", t("17:00"))]
    state = sla_state(events, policies, t("12:00"))
    assert state.is_open and state.resolution is not None
    assert state.resolution.status == "on_track"


def test_state_before_creation_is_a_clear_error(policies: SlaPolicies) -> None:
    with pytest.raises(InputError) as caught:
        sla_state([created("P2")], policies, t("09:00"))
    assert (caught.value.code, caught.value.field) == ("before_creation", "at")


def test_plan_without_policy_gives_a_no_sla_state(policies: SlaPolicies) -> None:
    state = sla_state([created("P1", plan="free")], policies, t("12:00"))
    assert not state.applies and state.reason == "no SLA policy for plan 'free'"
    assert state.targets() == () and state.as_dict()["applies"] is False


def test_state_as_dict_is_json_ready(policies: SlaPolicies) -> None:
    data = sla_state([created("P2")], policies, t("12:00")).as_dict()
    assert data["resolution"]["due"] == "2026-11-11T18:00:00-06:00"
    assert data["resolution"]["remaining_seconds"] == 6 * 3600
    assert data["first_response"]["breached_at"] == "2026-11-11T11:00:00-06:00"


def test_events_out_of_order_are_rejected_naming_the_field() -> None:
    with pytest.raises(InputError) as caught:
        TicketClock.replay([created("P2"), ev("resolved", t("12:00")), ev("reopened", t("11:00"))])
    assert caught.value.code == "events_out_of_order" and caught.value.field == "at"


@pytest.mark.parametrize(
    ("events", "code"),
    [
        ([], "missing_created"),
        ([ev("resolved", t("11:00"))], "missing_created"),
        ([created("P2"), created("P2", "11:00")], "duplicate_created"),
        ([created("P2"), ev("reopened", t("11:00"))], "not_resolved"),
    ],
)
def test_impossible_histories_are_rejected(events: list[TicketEvent], code: str) -> None:
    with pytest.raises(InputError) as caught:
        TicketClock.replay(events)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("record", "field", "code"),
    [
        ({"type": "created"}, "ticket_id", "missing_field"),
        ({"ticket_id": "x", "type": "closed", "at": "2026-01-01T00:00:00Z"}, "type", "bad_event_type"),
        ({"ticket_id": "x", "type": "resolved", "at": "yesterday"}, "at", "bad_datetime"),
        ({"ticket_id": "x", "type": "resolved", "at": "2026-01-01T10:00"}, "at", "naive_datetime"),
        ({"ticket_id": "x", "type": "created", "at": "2026-01-01T10:00Z", "plan": "pro",
          "severity": "P1", "timezone": "Mars/Base"}, "timezone", "bad_timezone"),
        ({"ticket_id": "x", "type": "created", "at": "2026-01-01T10:00Z", "plan": "pro",
          "severity": "P1", "timezone": "UTC", "country": "XX"}, "country", "bad_country"),
        ({"ticket_id": "x", "type": "created", "at": "2026-01-01T10:00Z", "plan": "pro",
          "severity": "urgent", "timezone": "UTC"}, "severity", "bad_severity"),
        ({"ticket_id": "x", "type": "created", "at": "2026-01-01T10:00Z",
          "severity": "P1", "timezone": "UTC"}, "plan", "missing_field"),
        ({"ticket_id": "x", "type": "escalated", "at": "2026-01-01T10:00Z",
          "target": "resolution", "level": 0}, "level", "bad_level"),
    ],
)  # fmt: skip
def test_bad_event_records_name_the_field(record: dict[str, Any], field: str, code: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_event(record)
    assert (caught.value.field, caught.value.code) == (field, code)


PAUSE_SETTINGS = settings(max_examples=60, deadline=None)


@PAUSE_SETTINGS
@given(
    st.sampled_from(["P1", "P2", "P3", "P4"]),
    st.integers(min_value=0, max_value=5 * 24 * 60),
    st.integers(min_value=1, max_value=3 * 24 * 60),
    st.integers(min_value=0, max_value=8 * 24 * 60),
)
def test_adding_a_pause_never_makes_a_deadline_earlier(
    policies: SlaPolicies, severity: str, pause_at: int, pause_len: int, now_after: int
) -> None:
    start = created(severity, "15:00")
    pause_start = start.at + timedelta(minutes=pause_at)
    pause_end = pause_start + timedelta(minutes=pause_len)
    now = max(pause_end, start.at + timedelta(minutes=now_after))
    plain = sla_state([start], policies, now).resolution
    paused = sla_state(
        [start, ev("waiting_on_customer", pause_start), ev("customer_replied", pause_end)],
        policies,
        now,
    ).resolution
    assert plain is not None and paused is not None
    assert paused.due >= plain.due
    assert paused.elapsed <= plain.elapsed
