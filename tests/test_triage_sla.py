"""Every triage result carries the SLA deadlines that follow from its severity and plan."""

from __future__ import annotations

from datetime import datetime

from sevtriage.triage import Triager

MX = {"plan": "business_plus", "timezone": "America/Mexico_City", "country": "MX"}


def test_p1_on_a_saturday_runs_24x7(triager: Triager) -> None:
    result = triager.triage(
        {
            "id": "t",
            "body": "La plataforma está caída para todos, sin solución alternativa.",
            "created_at": "2026-11-21T10:00:00-06:00",
            **MX,
        }
    )
    assert result["severity"] == "P1"
    assert result["sla"]["first_response_due"] == "2026-11-21T10:30:00-06:00"
    assert result["sla"]["resolution_due"] == "2026-11-21T14:00:00-06:00"
    assert result["versions"]["sla_policy"] == result["sla"]["policy_version"]


def test_given_severity_skips_classification_and_only_computes_the_sla(triager: Triager) -> None:
    result = triager.triage(
        {
            "id": "t",
            "body": "The whole platform is down!",
            "severity": "P3",
            "created_at": "2026-11-13T15:00:00-06:00",
            **MX,
        }
    )
    assert result["source"] == "input" and result["severity"] == "P3"
    assert result["signals"] == {}
    # Monday 2026-11-16 is a holiday in Mexico: one business day from Friday 15:00 is Tuesday 15:00.
    assert result["sla"]["resolution_due"] == "2026-11-17T15:00:00-06:00"
    assert result["sla"]["calendars"] == {"first_response": "24x7", "resolution": "business_days"}


def test_missing_created_at_uses_the_given_now(triager: Triager) -> None:
    now = datetime.fromisoformat("2026-11-13T15:00:00-06:00")
    result = triager.triage({"id": "t", "body": "How do I add an agent?", **MX}, now)
    assert result["severity"] == "P4"
    assert result["sla"]["created_at_from"] == "now"
    assert result["sla"]["resolution_due"] == "2026-11-18T15:00:00-06:00"


def test_plan_without_policy_or_missing_plan_is_a_clear_no_sla(triager: Triager) -> None:
    now = datetime.fromisoformat("2026-11-13T15:00:00+00:00")
    unknown = triager.triage(
        {"id": "a", "body": "How do I add an agent?", "plan": "enterprise"}, now
    )
    assert unknown["sla"]["applies"] is False and "enterprise" in unknown["sla"]["reason"]
    missing = triager.triage({"id": "b", "body": "How do I add an agent?"}, now)
    assert (
        missing["sla"]["applies"] is False and missing["sla"]["reason"] == "the ticket has no plan"
    )


def test_pro_plan_deadlines_are_marked_assumed(triager: Triager) -> None:
    result = triager.triage(
        {
            "id": "t",
            "body": "Nobody can log in, the platform is down.",
            "plan": "pro",
            "created_at": "2026-11-21T10:00:00-06:00",
            "timezone": "America/Mexico_City",
            "country": "MX",
        }
    )
    assert result["sla"]["applies"] is True and result["sla"]["assumed"] is True


def test_business_days_without_country_is_reported_not_lost(triager: Triager) -> None:
    result = triager.triage(
        {
            "id": "t",
            "body": "How do I add an agent?",
            "plan": "business_plus",
            "created_at": "2026-11-13T15:00:00+00:00",
        }
    )
    assert result["severity"] == "P4"
    assert result["sla"]["applies"] is False
    assert result["sla"]["error"]["field"] == "country"
