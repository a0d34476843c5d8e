"""Request bodies of the HTTP API (strict: unknown fields are refused with a 422 naming them).

Tickets are not modelled here: ``sevtriage.ticket.parse_ticket`` is their one validator, shared
with the CLI; ``TICKET_EXAMPLE`` only documents them in OpenAPI.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Severity = Literal["P1", "P2", "P3", "P4"]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("has no UTC offset; add one, e.g. -06:00 or Z")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]

TICKET_EXAMPLE = {
    "id": "T-1001",
    "subject": "La bandeja de entrada no carga",
    "body": "Desde las 9:00 nadie del equipo puede entrar a la bandeja. No hay alternativa.",
    "plan": "business_plus",
    "timezone": "America/Mexico_City",
    "country": "MX",
    "created_at": "2025-03-03T09:05:00-06:00",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EventIn(_Strict):
    """Something that happened to the ticket; the SLA clock follows these."""

    kind: Literal[
        "first_response_sent", "waiting_on_customer", "customer_replied", "resolved", "reopened"
    ]
    at: AwareDatetime | None = Field(
        default=None, description="When it happened (ISO-8601 with offset); default: now."
    )
    note: str | None = Field(default=None, max_length=2000)


class ReviewIn(_Strict):
    """An agent's review: confirm the severity in force, or override it (reason required)."""

    action: Literal["confirm", "override"]
    severity: Severity | None = Field(
        default=None, description="The new severity (override) or the one confirmed (optional)."
    )
    reason: str | None = Field(default=None, max_length=2000)


class EscalationRequestIn(_Strict):
    """The customer's request to escalate, with the impact they state (validated by
    ``sevtriage.escalation.StatedImpact``: service_down, data_lost, business_stopped,
    performance_degraded, feature_unavailable, partially_broken, users_affected
    (one/few/many/all), workaround (none/insufficient/acceptable), text)."""

    impact: dict[str, Any] = Field(
        description="e.g. {'business_stopped': true, 'workaround': 'none', 'text': '...'}",
        max_length=32,
    )
