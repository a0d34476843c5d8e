"""Reviewed tickets as training data: the format of ``data/*.jsonl`` (id, subject, body, language,
label) plus the review's metadata. The label is the severity an agent confirmed or set last; the
text is the ticket as it was when reviewed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sevtriage.store.records import Decision, TicketHistory
from sevtriage.store.store import Store


def _reviewed_content(history: TicketHistory, reviewed_seq: int) -> Decision:
    return next(
        d for d in reversed(history.decisions) if d.content is not None and d.seq <= reviewed_seq
    )


def example(history: TicketHistory) -> dict[str, Any] | None:
    """The labelled example of a reviewed ticket (None if it has no review)."""
    if not history.reviews:
        return None
    review = history.reviews[-1]
    shown = _reviewed_content(history, review.reviewed_decision_seq)
    content = shown.content or {}
    return {
        "id": history.id,
        "subject": content.get("subject", ""),
        "body": content.get("body", ""),
        "language": content.get("language") or shown.language,
        "label": review.severity,
        "review": {
            "action": review.action,
            "agent": review.agent,
            "previous_severity": review.previous_severity,
            "reason": review.reason,
            "reviewed_at": review.recorded_at.isoformat(),
            "predicted_source": shown.source,
            "predicted_confidence": shown.confidence,
            "versions": shown.versions,
            "reviews": len(history.reviews),
        },
    }


def reviewed_examples(store: Store, overrides_only: bool = False) -> Iterator[dict[str, Any]]:
    """One example per reviewed ticket, by id."""
    for history in store.iter_histories(store.reviewed_ids()):
        item = example(history)
        if item is None:
            continue
        if overrides_only and item["review"]["action"] != "overridden":
            continue
        yield item
