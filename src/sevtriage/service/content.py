"""The ticket as posted, as stored: a JSON-ready dict and a hash that says whether it changed."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sevtriage.ticket import Ticket


def ticket_content(ticket: Ticket) -> dict[str, Any]:
    """Every field of the validated ticket (``created_at`` as given: None when absent)."""
    return {
        "id": ticket.id,
        "subject": ticket.subject,
        "body": ticket.body,
        "created_at": ticket.created_at.isoformat() if ticket.created_at else None,
        "plan": ticket.plan,
        "timezone": ticket.timezone,
        "country": ticket.country,
        "language": ticket.language,
        "channel": ticket.channel,
        "requester": ticket.requester,
        "tags": list(ticket.tags),
        "severity": ticket.severity,
        "extra": ticket.extra,
    }


# What ``json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)`` builds for every
# call (the hashes stored since the first version are of its text); built once, it saves ~5 us.
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str)


def content_hash(content: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON: equal iff the posted ticket is the same."""
    canonical = _CANONICAL.encode(content)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
