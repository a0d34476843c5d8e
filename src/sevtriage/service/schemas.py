"""Request bodies of the HTTP API (strict: unknown fields are refused with a 422 naming them).

Tickets are not modelled here: ``sevtriage.ticket.parse_ticket`` is their one validator, shared
with the CLI; ``TICKET_EXAMPLE`` only documents them in OpenAPI. ``decode_json_body`` reads a
``POST /v1/tickets`` body itself, so every way it can be broken (not JSON, not UTF-8, NaN, a
100,000-digit number, nesting 10,000 deep, the wrong Content-Type) is a 4xx problem saying what.

``text_problem`` (``sevtriage.ticket``, which the CLI uses too) refuses what the store and JSON
answers cannot hold, anywhere in a body: NUL characters (PostgreSQL text refuses them) and lone
surrogates (``"\\udc00"`` is valid JSON but no character: it could be stored and then never
answered), and nesting deeper than ``MAX_JSON_DEPTH``.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from sevtriage.errors import InputError
from sevtriage.service.problems import UnsupportedMediaType
from sevtriage.ticket import MAX_JSON_DEPTH as MAX_JSON_DEPTH  # shared with the CLI's checks
from sevtriage.ticket import printable
from sevtriage.ticket import text_problem as text_problem

MAX_NUMBER_DIGITS = 1000

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


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (JSON has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:32]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise ValueError(
            f"a number of {len(text)} digits (the limit is {MAX_NUMBER_DIGITS}); "
            "send long identifiers as strings"
        )
    return int(text)


def require_json_media_type(content_type: str | None) -> None:
    """Refuse (415) a body not declared as JSON (``application/json`` or ``application/*+json``),
    or declared in a charset other than UTF-8."""
    media, _, params = (content_type or "").partition(";")
    media = media.strip().lower()
    is_json = media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )
    if not is_json:
        got = f"Content-Type {printable(media)!r}" if media else "no Content-Type"
        raise UnsupportedMediaType(
            "unsupported_media_type", f"{got}: send the tickets as application/json", None
        )
    for param in params.split(";"):
        key, _, raw = param.partition("=")
        charset = raw.strip().strip('"').lower()
        if key.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise UnsupportedMediaType(
                "unsupported_media_type",
                f"charset {printable(charset)!r}: JSON bodies must be UTF-8",
                None,
            )


def decode_json_body(raw: bytes) -> Any:
    """The JSON value of a request body, or an ``InputError`` (422) saying what is wrong with
    it: empty, not UTF-8 (with the byte offset), not JSON (with line and column), NaN/Infinity,
    an out-of-range number, nesting too deep, a NUL or lone surrogate."""
    if not raw.strip():
        raise InputError(
            "invalid_json", "the body is empty: send a ticket (an object) or tickets (an array)"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            "invalid_utf8", f"byte {exc.start} is not valid UTF-8: the body must be UTF-8 JSON"
        ) from None
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except json.JSONDecodeError as exc:
        raise InputError(
            "invalid_json", f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise InputError(
            "too_deep", f"not JSON we accept: nested deeper than {MAX_JSON_DEPTH}"
        ) from None
    except ValueError as exc:
        raise InputError("invalid_json", f"not JSON we accept: {exc}") from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        """Refuse NUL characters, lone surrogates and deep nesting in any field."""
        error = text_problem(value)
        if error is not None:
            raise ValueError(error.message)
        return value


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
