"""How each severity rule behaves on labelled tickets (after snorkel's labeling-function analysis).

Per rule: coverage (share of tickets on which it fires), overlap (fires together with another
rule), conflict (fires together with a rule of another severity), decisive (share of tickets it
decides), and accuracy (of the tickets it fires on, the share whose label is the rule's severity).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from sevtriage.triage import Triager


def rule_analysis(triager: Triager, records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per rule (plus ``(no rule)``), over records that have a ``label``."""
    fired_sets: list[tuple[str, list[tuple[str, str]], str | None]] = []
    for record in records:
        label = str(record.get("label", "")).upper()
        ticket = triager.parse(record)
        decision = triager.evaluate(triager.signals(ticket).facts)
        fired: list[tuple[str, str]] = [(r.id, str(r.severity)) for r in decision.fired]
        fired_sets.append((label, fired, decision.rule.id if decision.rule else None))
    total = len(fired_sets)
    rows = []
    for rule in triager.config.severity.rules:
        on = [
            (label, fired, dec)
            for label, fired, dec in fired_sets
            if any(r == rule.id for r, _ in fired)
        ]
        n = len(on)
        rows.append(
            {
                "rule": rule.id,
                "severity": rule.severity,
                "fires": n,
                "coverage": n / total if total else 0.0,
                "overlap": sum(len(f) > 1 for _, f, _ in on) / total if total else 0.0,
                "conflict": sum(any(s != rule.severity for _, s in f) for _, f, _ in on) / total
                if total
                else 0.0,
                "decisive": sum(d == rule.id for _, _, d in on) / total if total else 0.0,
                "accuracy": sum(label == rule.severity for label, _, _ in on) / n
                if n
                else float("nan"),
            }
        )
    none = sum(1 for _, f, _ in fired_sets if not f)
    rows.append(
        {
            "rule": "(no rule)",
            "severity": "",
            "fires": none,
            "coverage": none / total if total else 0.0,
            "overlap": 0.0,
            "conflict": 0.0,
            "decisive": none / total if total else 0.0,
            "accuracy": float("nan"),
        }
    )
    return pd.DataFrame(rows)
