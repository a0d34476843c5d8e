"""Backtest's SLA part: deadlines under each configuration's severities, and who would breach."""

from __future__ import annotations

from pathlib import Path

from sevtriage.evaluate import sla_outcomes
from sevtriage.sla import SlaPolicies

RULES = Path(__file__).resolve().parents[1] / "rules"
RESOLVED_AT_5H = {
    "id": "a",
    "plan": "business_plus",
    "created_at": "2026-11-21T10:00:00-06:00",
    "timezone": "America/Mexico_City",
    "country": "MX",
    "first_response_at": "2026-11-21T10:45:00-06:00",
    "resolved_at": "2026-11-21T15:00:00-06:00",
}
NO_POLICY = {"id": "b", "plan": "enterprise", "created_at": "2026-11-21T10:00:00-06:00"}
NO_DATE = {"id": "c", "plan": "business_plus"}


def test_a_p1_resolved_after_five_hours_breaches_and_a_p2_would_not() -> None:
    policies = SlaPolicies.load(RULES)
    records = [RESOLVED_AT_5H, NO_POLICY, NO_DATE]
    as_p1 = sla_outcomes(records, ["P1", "P1", "P1"], policies)
    assert as_p1["with_sla"] == 1
    assert as_p1["mean_hours_to_resolution_due"] == 4.0
    assert as_p1["breached"]["resolution"] == {"checked": 1, "breached": 1, "share": 1.0}
    # first response 45 min after creation: late for P1 (30 min), in time for P2 (1 h)
    assert as_p1["breached"]["first_response"]["breached"] == 1
    assert as_p1["without_sla"] == {
        "no SLA policy for plan 'enterprise'": 1,
        "no created_at or plan": 1,
    }
    as_p2 = sla_outcomes(records, ["P2", "P2", "P2"], policies)
    assert as_p2["mean_hours_to_resolution_due"] == 8.0
    assert as_p2["breached"]["resolution"]["breached"] == 0
    assert as_p2["breached"]["first_response"]["breached"] == 0
