"""sevtriage: support-ticket severity triage (P1-P4) with reasons and SLA deadlines.

>>> from sevtriage import triage
>>> triage({"id": "T-1", "subject": "Inbox down", "body": "Nobody can log in."})["severity"]
'P1'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sevtriage.errors import ConfigError, InputError, ModelError, SevtriageError, SlaError
from sevtriage.triage import Triager, default_triager

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ConfigError",
    "InputError",
    "ModelError",
    "SevtriageError",
    "SlaError",
    "Triager",
    "triage",
    "triage_many",
]


def triage(ticket: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """Classify one ticket with the default rules and model; ``now`` (default: the current time)
    is the intake time used when the ticket has no ``created_at``. ``InputError`` for bad input."""
    return default_triager().triage(ticket, now or datetime.now(UTC))


def triage_many(
    tickets: Iterable[Mapping[str, Any]] | pd.DataFrame, now: datetime | None = None
) -> list[dict[str, Any]] | pd.DataFrame:
    """Classify many tickets; bad ones become error records in place (one output per input).

    A pandas DataFrame in gives a DataFrame out (same index, one column per result field);
    any other iterable of mappings gives a list of dicts.
    """
    triager = default_triager()
    now = now or datetime.now(UTC)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None  # type: ignore[assignment]
    if pd is not None and isinstance(tickets, pd.DataFrame):
        rows = tickets.astype(object).where(tickets.notna(), None).to_dict(orient="records")
        results = list(triager.triage_records(enumerate(rows, start=1), now))
        return pd.DataFrame(results, index=tickets.index)
    return list(triager.triage_records(enumerate(tickets, start=1), now))
