"""Evidence highlighting for the review page: the ticket text, HTML-escaped, with each evidence
span (``field``/``start``/``end`` into subject or body) wrapped in ``<mark>``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from markupsafe import Markup, escape


def evidence_spans(reasons: Iterable[Mapping[str, Any]], field: str) -> list[tuple[int, int, str]]:
    """``(start, end, signal)`` of every evidence item on ``field``, sorted, overlaps merged."""
    raw = sorted(
        (int(ev["start"]), int(ev["end"]), str(ev.get("signal", "")))
        for reason in reasons
        for ev in reason.get("evidence", ())
        if ev.get("field") == field and int(ev["end"]) > int(ev["start"]) >= 0
    )
    merged: list[tuple[int, int, str]] = []
    for start, end, signal in raw:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            names = last[2] if signal in last[2].split(", ") else f"{last[2]}, {signal}"
            merged[-1] = (last[0], max(last[1], end), names)
        else:
            merged.append((start, end, signal))
    return merged


def highlight(text: str, spans: list[tuple[int, int, str]]) -> Markup:
    """``text`` escaped, spans wrapped in ``<mark title="signal">``; spans past the end are cut."""
    parts: list[str] = []
    position = 0
    for start, end, signal in spans:
        start, end = max(start, position), min(end, len(text))
        if start >= end:
            continue
        parts.append(str(escape(text[position:start])))
        parts.append(f'<mark title="{escape(signal)}">{escape(text[start:end])}</mark>')
        position = end
    parts.append(str(escape(text[position:])))
    return Markup("".join(parts))
