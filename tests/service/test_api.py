"""The HTTP API's contract on a real server: auth, bad input as 4xx naming the field (never a
500), idempotent intake, refusals, the review queue, metrics and docs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.service.conftest import AGENT, BOT, Server


def ticket(n: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"A-{n}",
        "subject": "Inbox down",
        "body": "Nobody can log in since 9am, no workaround.",
        "plan": "business_plus",
        "timezone": "Europe/Madrid",
        "country": "ES",
        **fields,
    }


def problems(response: Any) -> list[tuple[Any, str | None]]:
    return [(p["loc"], p["field"]) for p in response.json()["detail"]]


def test_writes_need_a_known_bearer_token_reads_do_not(server: Server) -> None:
    c = server.client
    assert c.post("/v1/tickets", json=ticket()).status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    assert c.post("/v1/tickets", json=ticket(), headers=bad).status_code == 401
    assert c.post("/v1/tickets", json=ticket(), headers=BOT).status_code == 201
    assert c.get("/v1/tickets/A-1").status_code == 200
    assert c.get("/v1/escalations").status_code == 401  # the sweep records: it is a write
    assert c.get("/v1/tickets/A-1").json()["received_by"] == "intake-bot"


def test_bad_tickets_are_422_naming_the_field_and_a_bad_batch_stores_nothing(
    server: Server,
) -> None:
    c = server.client
    missing = c.post("/v1/tickets", json={"id": "B-1"}, headers=BOT)
    assert (missing.status_code, problems(missing)) == (422, [(["body", "body"], "body")])
    naive = c.post("/v1/tickets", json=ticket(created_at="2025-03-03T09:00:00"), headers=BOT)
    assert naive.status_code == 422 and naive.json()["detail"][0]["code"] == "naive_datetime"
    batch = [ticket(1), ticket(2, timezone="Mars/Olympus"), ticket(3, body="")]
    refused = c.post("/v1/tickets", json=batch, headers=BOT)
    assert refused.status_code == 422
    assert problems(refused) == [
        (["body", 1, "timezone"], "timezone"),
        (["body", 2, "body"], "body"),
    ]
    assert c.get("/v1/tickets/A-1").status_code == 404  # nothing of the batch was stored
    not_json = c.post(
        "/v1/tickets", content=b"{not json", headers={**BOT, "content-type": "application/json"}
    )
    assert not_json.status_code == 422
    scalar = c.post("/v1/tickets", json=42, headers=BOT)
    assert scalar.status_code == 422
    future = server.clock.now + timedelta(days=1)
    ahead = c.post("/v1/tickets", json=ticket(created_at=future.isoformat()), headers=BOT)
    assert ahead.status_code == 422 and problems(ahead)[0][1] == "created_at"
    # An SLA the engine cannot compute does not lose the ticket: the answer says why.
    question = {"subject": "Question", "body": "How do I export a report? Not urgent."}
    no_country = c.post("/v1/tickets", json=ticket(9, country=None, **question), headers=BOT)
    assert no_country.status_code == 201
    assert no_country.json()["deadlines"]["error"]["field"] == "country"
    status = c.get("/v1/tickets/A-9").json()["sla_status"]
    assert status["applies"] is False and status["error"]["field"] == "country"


def test_oversized_requests_are_413_before_parsing(serve: Any) -> None:
    server = serve(max_body_bytes=10_000, max_batch=3)
    big = server.client.post("/v1/tickets", json=ticket(body="x" * 20_000), headers=BOT)
    assert big.status_code == 413 and big.json()["detail"][0]["code"] == "too_large"
    many = server.client.post("/v1/tickets", json=[ticket(n) for n in range(4)], headers=BOT)
    assert many.status_code == 422 and many.json()["detail"][0]["code"] == "too_large"


def test_reposting_a_changed_body_records_an_update_decision(server: Server) -> None:
    c = server.client
    assert c.post("/v1/tickets", json=ticket(), headers=BOT).json()["status"] == "created"
    changed = ticket(subject="Question", body="How do I export a report? Not urgent.")
    update = c.post("/v1/tickets", json=changed, headers=BOT).json()
    assert (update["status"], update["severity"], update["previous_severity"]) == (
        "updated",
        "P4",
        "P1",
    )
    again = c.post("/v1/tickets", json=changed, headers=BOT).json()
    assert again["status"] == "unchanged"
    history = c.get("/v1/tickets/A-1").json()
    assert [(d["kind"], d["severity"]) for d in history["decisions"]] == [
        ("intake", "P1"),
        ("update", "P4"),
    ]
    assert history["ticket"]["body"] == changed["body"]


def test_review_event_and_escalation_refusals(server: Server) -> None:
    c = server.client
    c.post("/v1/tickets", json=ticket(), headers=BOT)
    c.post("/v1/tickets", json=ticket(2, plan="pro", body="Exports are slow."), headers=BOT)
    no_reason = c.post(
        "/v1/tickets/A-1/review", json={"action": "override", "severity": "P2"}, headers=AGENT
    )
    assert no_reason.status_code == 422 and problems(no_reason)[0][1] == "reason"
    bad_sev = c.post(
        "/v1/tickets/A-1/review", json={"action": "override", "severity": "P9"}, headers=AGENT
    )
    assert bad_sev.status_code == 422 and problems(bad_sev)[0][1] == "severity"
    assert (
        c.post("/v1/tickets/NOPE/review", json={"action": "confirm"}, headers=AGENT).status_code
        == 404
    )
    bad_kind = c.post("/v1/tickets/A-1/events", json={"kind": "exploded"}, headers=AGENT)
    assert bad_kind.status_code == 422 and problems(bad_kind)[0][1] == "kind"
    reopen = c.post("/v1/tickets/A-1/events", json={"kind": "reopened"}, headers=AGENT)
    assert reopen.status_code == 409
    pro = c.post(
        "/v1/tickets/A-2/escalation-requests",
        json={"impact": {"business_stopped": True}},
        headers=BOT,
    )
    assert pro.status_code == 403 and "business_plus" in pro.json()["detail"][0]["msg"]
    recorded = c.get("/v1/tickets/A-2").json()["escalations"]
    assert [(e["kind"], e["outcome"]) for e in recorded] == [("requested", "refused")]
    bad_impact = c.post(
        "/v1/tickets/A-1/escalation-requests", json={"impact": {"on_fire": True}}, headers=BOT
    )
    assert bad_impact.status_code == 422 and problems(bad_impact)[0][1] == "impact.on_fire"
    not_higher = c.post(
        "/v1/tickets/A-1/escalation-requests",
        json={"impact": {"service_down": True, "workaround": "none"}},
        headers=BOT,
    )
    assert not_higher.status_code == 200
    assert not_higher.json()["request"]["accepted"] is False
    assert not_higher.json()["severity"] == "P1"


def test_review_queue_lists_unsure_open_tickets_oldest_deadline_first(server: Server) -> None:
    c, clock = server.client, server.clock
    start = clock.now
    unsure = "Hola, el logo se ve distinto."  # no rule fires: P3 by default, needs review
    c.post("/v1/tickets", json=ticket(1, subject="", body=unsure, plan="pro"), headers=BOT)
    clock.advance(minutes=5)
    c.post("/v1/tickets", json=ticket(2, subject="", body=unsure), headers=BOT)  # Business+: sooner
    c.post("/v1/tickets", json=ticket(3), headers=BOT)  # a sure P1: not in the queue
    queue = c.get("/v1/review-queue").json()["tickets"]
    assert [t["id"] for t in queue] == ["A-2", "A-1"]
    assert all(t["needs_review"] for t in queue)
    c.post("/v1/tickets/A-2/review", json={"action": "confirm"}, headers=AGENT)
    assert [t["id"] for t in c.get("/v1/review-queue").json()["tickets"]] == ["A-1"]
    assert start < clock.now


def test_health_metrics_and_openapi_docs(server: Server) -> None:
    c = server.client
    c.post("/v1/tickets", json=ticket(), headers=BOT)
    assert c.get("/healthz").json()["status"] == "ok"
    metrics = c.get("/metrics").text
    assert 'sevtriage_decisions_total{kind="intake",severity="P1",source="rules"} 1.0' in metrics
    assert (
        'sevtriage_http_requests_total{method="POST",route="/v1/tickets",status="201"}' in metrics
    )
    assert "sevtriage_http_request_duration_seconds_bucket" in metrics
    assert c.get("/docs").status_code == 200
    paths = c.get("/openapi.json").json()["paths"]
    assert {"/v1/tickets", "/v1/tickets/{ticket_id}/review", "/v1/escalations"} <= set(paths)


@pytest.mark.parametrize("path", ["/v1/tickets/x/events", "/v1/tickets/x/review"])
def test_garbage_bodies_are_422_never_500(server: Server, path: str) -> None:
    for body in (b"", b"[]", b"null", b'{"kind": 1}', b"\xff\xfe"):
        response = server.client.post(
            path, content=body, headers={**AGENT, "content-type": "application/json"}
        )
        assert response.status_code in (404, 422), (body, response.text)


def test_time_is_the_injected_clock(server: Server) -> None:
    server.clock.set(datetime(2030, 1, 1, tzinfo=UTC))
    created = server.client.post("/v1/tickets", json=ticket(), headers=BOT).json()
    assert created["created_at"] == "2030-01-01T00:00:00+00:00"


def test_a_ticket_without_plan_says_so_at_intake_and_in_its_status(server: Server) -> None:
    c = server.client
    created = c.post("/v1/tickets", json=ticket(77, plan=None), headers=BOT)
    assert created.status_code == 201
    assert created.json()["deadlines"]["reason"] == "the ticket has no plan"
    status = c.get("/v1/tickets/A-77").json()["sla_status"]
    assert status["applies"] is False and status["reason"] == "the ticket has no plan"
