"""The whole story of one ticket through the HTTP API of a real server, with exact deadlines.

Business+ (24x7 for P1/P2), created 2025-03-03 09:00 in Mexico City (15:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.service.conftest import AGENT, BOT, Server

CREATED = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
TICKET = {
    "id": "T-STORY-1",
    "subject": "Export de reportes falla",
    "body": "El export de reportes a CSV falla para algunos usuarios, pero podemos copiar los "
    "datos a mano mientras tanto.",
    "plan": "business_plus",
    "timezone": "America/Mexico_City",
    "country": "MX",
    "created_at": "2025-03-03T09:00:00-06:00",
}


def utc(hour: int, minute: int = 0, day: int = 3) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def event(server: Server, kind: str, when: datetime) -> dict[str, Any]:
    server.clock.set(when)
    response = server.client.post(
        f"/v1/tickets/{TICKET['id']}/events", json={"kind": kind}, headers=AGENT
    )
    assert response.status_code == 200, response.text
    return response.json()


def sweep(server: Server, when: datetime) -> list[dict[str, Any]]:
    server.clock.set(when)
    response = server.client.get("/v1/escalations", params={"at": when.isoformat()}, headers=BOT)
    assert response.status_code == 200, response.text
    return response.json()["escalations"]


def test_ticket_story_intake_review_pause_escalation_breach_resolution(server: Server) -> None:
    """Intake -> override -> waiting on customer -> escalation request -> breach -> resolved,
    with every deadline checked against the Business+ table."""
    client, clock = server.client, server.clock
    clock.set(CREATED)

    # Intake: P4 by the rules; Business+ P4 = 4h first response (24x7), 2 business days.
    created = client.post("/v1/tickets", json=TICKET, headers=BOT)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["status"], body["severity"], body["source"]) == ("created", "P4", "rules")
    assert at(body["deadlines"]["first_response_due"]) == utc(19)
    assert at(body["deadlines"]["resolution_due"]) == utc(15, day=5)  # Mon 09:00 + 2 days
    assert body["reasons"][0]["evidence"], "the rule's evidence travels with the answer"

    # The same post again: nothing new.
    again = client.post("/v1/tickets", json=TICKET, headers=BOT)
    assert (again.status_code, again.json()["status"]) == (200, "unchanged")

    # 15:10 an agent overrides to P2: targets recomputed from creation (1h / 8h, 24x7).
    clock.set(utc(15, 10))
    review = client.post(
        f"/v1/tickets/{TICKET['id']}/review",
        json={"action": "override", "severity": "P2", "reason": "Exports block month-end close."},
        headers=AGENT,
    )
    assert review.status_code == 200, review.text
    reviewed = review.json()
    assert reviewed["severity"] == "P2" and reviewed["source"] == "review"
    status = reviewed["sla_status"]
    assert at(status["first_response"]["due"]) == utc(16)
    assert at(status["resolution"]["due"]) == utc(23)

    # First response at 15:30 (met); waiting on the customer 16:00-18:00 pauses resolution.
    event(server, "first_response_sent", utc(15, 30))
    waiting = event(server, "waiting_on_customer", utc(16))["sla_status"]
    assert waiting["waiting_on_customer"] is True and waiting["resolution"]["paused"] is True
    replied = event(server, "customer_replied", utc(18))["sla_status"]
    assert replied["first_response"]["status"] == "met"
    assert at(replied["resolution"]["due"]) == utc(1, day=4)  # 23:00 + 2h paused

    # 18:30 the customer states the business is stopped: re-scored P1 and applied.
    clock.set(utc(18, 30))
    request = client.post(
        f"/v1/tickets/{TICKET['id']}/escalation-requests",
        json={"impact": {"business_stopped": True, "service_down": True, "workaround": "none"}},
        headers=BOT,
    )
    assert request.status_code == 200, request.text
    escalated = request.json()
    assert escalated["request"]["accepted"] is True
    assert escalated["severity"] == "P1" and escalated["previous_severity"] == "P2"
    # P1 resolution: 4h from 15:00 plus the 2h paused = 21:00 UTC; first response stays met.
    assert at(escalated["sla_status"]["resolution"]["due"]) == utc(21)
    assert escalated["sla_status"]["first_response"]["status"] == "met"

    # Sweep at 20:00: 3h of 4h elapsed = at risk (75%): level 1, once.
    first = sweep(server, utc(20))
    assert [(e["target"], e["level"], e["status"]) for e in first] == [("resolution", 1, "at_risk")]
    assert sweep(server, utc(20, 5)) == []

    # 21:30: breached: level 2; sweeping again records nothing twice.
    breach = sweep(server, utc(21, 30))
    assert [(e["target"], e["level"], e["status"]) for e in breach] == [
        ("resolution", 2, "breached")
    ]
    assert sweep(server, utc(21, 31)) == []

    # Resolved at 22:00: the resolution target is breached for good, the ticket closed.
    final = event(server, "resolved", utc(22))
    status = final["sla_status"]
    assert status["open"] is False
    assert status["resolution"]["status"] == "breached"
    assert status["first_response"]["status"] == "met"
    assert [d["kind"] for d in final["decisions"]] == ["intake", "review", "escalation_request"]
    assert [e["kind"] for e in final["events"]] == [
        "first_response_sent",
        "waiting_on_customer",
        "customer_replied",
        "resolved",
    ]
    assert [(e["kind"], e["outcome"]) for e in final["escalations"]] == [
        ("requested", "accepted"),
        ("automatic", "escalated"),
        ("automatic", "escalated"),
    ]
    assert {d["actor"] for d in final["decisions"]} == {"intake-bot", "ana"}
    assert final["reviews"][0]["agent"] == "ana"
    assert final["reviews"][0]["action"] == "overridden"

    # After resolution the sweep leaves it alone; metrics counted the breach once.
    assert sweep(server, utc(23)) == []
    metrics = client.get("/metrics").text
    assert 'sevtriage_sla_breaches_total{target="resolution"} 1.0' in metrics
    assert 'sevtriage_reviews_total{action="overridden"} 1.0' in metrics
