"""The triage stage: a validated ticket in, a severity with its reasons and versions out.

``Triager`` loads the rules once (one engine per rules version) and is safe to share between
threads. The result is a plain JSON-ready dict (see the README for its fields).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sevtriage.config import SEVERITY_LABELS, RulesConfig, SeverityRule, load_rules
from sevtriage.errors import InputError
from sevtriage.rules import RuleDecision, RulesEngine
from sevtriage.signals import SignalReport, extract_signals
from sevtriage.ticket import MAX_BODY_CHARS, Ticket, parse_ticket


def _explain(rule: SeverityRule, language: str) -> str:
    return rule.explain.get(language) or rule.explain["en"]


def _rule_reason(rule: SeverityRule, report: SignalReport, decisive: bool) -> dict[str, Any]:
    used = [n for n in (*rule.when.all, *rule.when.any) if report.facts.get(n)]
    evidence = [ev.as_dict() for name in used for ev in report.evidence.get(name, [])]
    return {
        "kind": "rule",
        "rule": rule.id,
        "severity": rule.severity,
        "decisive": decisive,
        "explanation": _explain(rule, report.language),
        "evidence": evidence,
    }


def _rule_confidence(rule: SeverityRule, report: SignalReport, hedge_penalty: float) -> float:
    """The rule's confidence, lowered when every piece of its evidence is hedged ("I think...")."""
    used = [n for n in (*rule.when.all, *rule.when.any) if report.facts.get(n)]
    evidence = [ev for name in used for ev in report.evidence.get(name, [])]
    if evidence and all(ev.hedged for ev in evidence):
        return max(0.0, rule.confidence - hedge_penalty)
    return rule.confidence


class Triager:
    """Rules (and later the model and SLA policies) loaded once; ``triage`` is a pure function of
    the ticket and ``now``."""

    def __init__(self, rules_dir: Path | None = None, max_body_chars: int = MAX_BODY_CHARS) -> None:
        self.config: RulesConfig = load_rules(rules_dir)
        self.engine = RulesEngine(self.config)
        self.max_body_chars = max_body_chars

    @property
    def versions(self) -> dict[str, str | None]:
        return {"rules": self.config.version, "model": None, "sla_policy": None}

    def parse(self, record: Any) -> Ticket:
        return parse_ticket(record, self.config.lexicons.keys(), self.max_body_chars)

    def signals(self, ticket: Ticket) -> SignalReport:
        return extract_signals(ticket.subject, ticket.body, self.config, ticket.language)

    def evaluate(self, facts: Mapping[str, bool]) -> RuleDecision:
        return self.engine.evaluate(facts)

    def triage(self, record: Any, now: datetime | None = None) -> dict[str, Any]:
        """Classify one ticket (a mapping or a ``Ticket``). Raises ``InputError`` for bad input."""
        ticket = record if isinstance(record, Ticket) else self.parse(record)
        report = self.signals(ticket)
        decision = self.evaluate(report.facts)
        severity_rules = self.config.severity
        reasons: list[dict[str, Any]] = []
        severity: str
        if decision.rule is not None:
            severity = decision.rule.severity
            confidence = _rule_confidence(decision.rule, report, severity_rules.hedge_penalty)
            ordered = [decision.rule, *(r for r in decision.fired if r is not decision.rule)]
            reasons = [_rule_reason(r, report, r is decision.rule) for r in ordered]
            needs_review = confidence < severity_rules.review_below
        else:
            severity = severity_rules.default_severity
            confidence = severity_rules.default_confidence
            reasons = [
                {
                    "kind": "default",
                    "rule": None,
                    "severity": severity,
                    "decisive": True,
                    "explanation": severity_rules.no_rule_explain.get(report.language)
                    or severity_rules.no_rule_explain["en"],
                    "evidence": [],
                }
            ]
            needs_review = True
        source = "rules"
        if ticket.severity is not None:  # given by the caller: only the SLA is computed
            severity, source, confidence, needs_review = ticket.severity, "input", 1.0, False
        return {
            "id": ticket.id,
            "severity": severity,
            "severity_label": SEVERITY_LABELS[severity],
            "source": source,
            "confidence": round(confidence, 4),
            "needs_review": needs_review,
            "language": report.language,
            "reasons": reasons,
            "signals": {name: value for name, value in report.facts.items() if value},
            "negated": [ev.as_dict() for ev in report.negated],
            "versions": self.versions,
        }

    def triage_records(
        self, records: Iterable[tuple[int, Any]], now: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """One output per input: a result, or an error record ``{"id", "line", "error"}``."""
        for line, record in records:
            if isinstance(record, InputError):
                yield error_record(line, None, record)
                continue
            try:
                yield self.triage(record, now)
            except InputError as exc:
                known = record.get("id") if isinstance(record, Mapping) else None
                yield error_record(line, known if isinstance(known, str | int) else None, exc)

    def rescore_impact(
        self, signals: Mapping[str, bool], text: str
    ) -> tuple[str | None, list[str]]:
        """Severity of a stated impact: the given signals OR'ed with those found in ``text``."""
        facts = dict.fromkeys(self.config.signal_names, False)
        if text.strip():
            facts.update(extract_signals("", text, self.config).facts)
        for name, value in signals.items():
            if name not in facts:
                raise InputError(
                    "unknown_signal", f"{name!r} is not a signal; known: {sorted(facts)}", "impact"
                )
            facts[name] = facts[name] or bool(value)
        decision = self.evaluate(facts)
        return decision.severity, [r.id for r in decision.fired]


def error_record(line: int, ticket_id: str | int | None, error: InputError) -> dict[str, Any]:
    if isinstance(ticket_id, str) and len(ticket_id) > 256:
        ticket_id = ticket_id[:256]
    return {"id": ticket_id, "line": line, "error": error.as_dict()}


_default: Triager | None = None
_default_lock = threading.Lock()


def default_triager() -> Triager:
    """The process-wide triager over the default rules directory, built on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Triager()
        return _default


def rescore_impact(signals: Mapping[str, bool], text: str) -> tuple[str | None, list[str]]:
    """Re-score a customer's stated impact with the default severity rules."""
    return default_triager().rescore_impact(signals, text)
