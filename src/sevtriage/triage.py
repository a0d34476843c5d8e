"""The triage stage: a validated ticket in, a severity with its reasons and versions out.

``Triager`` loads the rules once (one engine per rules version) and is safe to share between
threads. The result is a plain JSON-ready dict (see the README for its fields).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sevtriage.combine import combine, load_policy
from sevtriage.config import SEVERITY_LABELS, RulesConfig, SeverityRule, load_rules
from sevtriage.errors import InputError, SlaError
from sevtriage.rules import RuleDecision, RulesEngine
from sevtriage.signals import Evidence, SignalReport, extract_many, extract_signals
from sevtriage.sla import SlaPolicies
from sevtriage.ticket import MAX_BODY_CHARS, Ticket, parse_ticket


def _explain(rule: SeverityRule, language: str) -> str:
    return rule.explain.get(language) or rule.explain["en"]


def _rule_reason(rule: SeverityRule, report: SignalReport, decisive: bool) -> dict[str, Any]:
    used = [n for n in (*rule.when.all, *rule.when.any) if report.facts.get(n)]
    evidence = [ev.as_dict() for name in used for ev in _distinct(report.evidence.get(name, []))]
    return {
        "kind": "rule",
        "rule": rule.id,
        "severity": rule.severity,
        "decisive": decisive,
        "explanation": _explain(rule, report.language),
        "evidence": evidence,
    }


MAX_EVIDENCE_PER_SIGNAL = 5


def _distinct(evidence: list[Evidence]) -> list[Evidence]:
    """The first few matches with distinct text: enough to show, not every repeat of a keyword."""
    seen: set[str] = set()
    out: list[Evidence] = []
    for ev in evidence:
        key = ev.text.lower()
        if key not in seen:
            seen.add(key)
            out.append(ev)
            if len(out) == MAX_EVIDENCE_PER_SIGNAL:
                break
    return out


def _rule_confidence(rule: SeverityRule, report: SignalReport, hedge_penalty: float) -> float:
    """The rule's confidence, lowered when every piece of its evidence is hedged ("I think...")."""
    used = [n for n in (*rule.when.all, *rule.when.any) if report.facts.get(n)]
    evidence = [ev for name in used for ev in report.evidence.get(name, [])]
    if evidence and all(ev.hedged for ev in evidence):
        return max(0.0, rule.confidence - hedge_penalty)
    return rule.confidence


class ModelLike(Protocol):
    """What the triage stage needs from a fallback model (``sevtriage.model.SeverityModel``)."""

    version: str
    classes_: tuple[str, ...]

    def predict_proba(self, texts: Sequence[str]) -> Any: ...

    def predict_with_terms(
        self, texts: Sequence[str], top_k: int = 5
    ) -> tuple[Any, list[list[tuple[str, float]]]]: ...


@dataclass(frozen=True)
class _ModelView:
    """What the model said of one ticket: class probabilities, and the terms behind the top one."""

    probabilities: dict[str, float]
    terms: list[tuple[str, float]]


@dataclass(frozen=True)
class _Prepared:
    ticket: Ticket
    report: SignalReport
    decision: RuleDecision


# A chunk of a batch: the prefilter's sets and the model run once over it. Larger chunks spread
# scikit-learn's and numpy's fixed costs over more tickets and keep an RE2 automaton in the
# CPU's caches for longer (1,024 against 256: classify 3-7% faster on 20,000 tickets, median 6%
# over 8 paired runs; the bare model 4-6%); the characters bound what a chunk of long tickets holds.
CHUNK_TICKETS = 1024
CHUNK_CHARS = 1_000_000


def _text_chars(record: Any) -> int:
    """The characters of a record's subject and body (0 for a record without them)."""
    if isinstance(record, Ticket):
        return len(record.subject) + len(record.body)
    if not isinstance(record, Mapping):
        return 0
    size = 0
    for name in ("subject", "body"):
        if isinstance(text := record.get(name), str):
            size += len(text)
    return size


class Triager:
    """Rules, the optional fallback model and the combination policy, loaded once.

    ``triage`` is a pure function of the ticket (and ``now``); the object is safe to share
    between threads. Batches go through ``triage_records``, which runs the model once per chunk.
    """

    def __init__(
        self,
        rules_dir: Path | None = None,
        model: ModelLike | None = None,
        max_body_chars: int = MAX_BODY_CHARS,
        chunk_size: int = CHUNK_TICKETS,
        sla: SlaPolicies | None = None,
        chunk_chars: int = CHUNK_CHARS,
    ) -> None:
        self.config: RulesConfig = load_rules(rules_dir)
        self.engine = RulesEngine(self.config)
        self.policy = load_policy(self.config.directory)
        self.sla = sla if sla is not None else SlaPolicies.load(self.config.directory)
        self.model = model
        self.max_body_chars = max_body_chars
        self.chunk_size = chunk_size
        self.chunk_chars = chunk_chars
        self.versions: dict[str, str | None] = {
            "rules": self.config.version,
            "model": model.version if model is not None else None,
            "sla_policy": self.sla.version,
        }

    def parse(self, record: Any) -> Ticket:
        return parse_ticket(record, self.config.lexicons.keys(), self.max_body_chars)

    def signals(self, ticket: Ticket) -> SignalReport:
        return extract_signals(ticket.subject, ticket.body, self.config, ticket.language)

    def evaluate(self, facts: Mapping[str, bool]) -> RuleDecision:
        return self.engine.evaluate(facts)

    def _prepare(self, record: Any) -> _Prepared:
        ticket = record if isinstance(record, Ticket) else self.parse(record)
        if ticket.severity is not None:  # given by the caller: no classification, only the SLA
            empty = SignalReport(facts={}, language=ticket.language or "en")
            return _Prepared(ticket, empty, RuleDecision(rule=None, fired=()))
        report = self.signals(ticket)
        return _Prepared(ticket, report, self.evaluate(report.facts))

    def _probabilities(self, batch: Sequence[_Prepared]) -> list[_ModelView | None]:
        """The model's probabilities and top terms for each ticket that needs classifying,
        from one vectorisation of the batch."""
        wanted = [i for i, p in enumerate(batch) if p.ticket.severity is None]
        out: list[_ModelView | None] = [None] * len(batch)
        if self.model is None or not wanted:
            return out
        from sevtriage.modelfile import model_text

        texts = [
            model_text(
                batch[i].ticket.subject, batch[i].ticket.body, batch[i].report.hidden_from_model
            )
            for i in wanted
        ]
        classes = self.model.classes_
        matrix, terms = self.model.predict_with_terms(texts, top_k=5)
        rows = matrix.tolist() if hasattr(matrix, "tolist") else matrix  # floats, at once
        for i, row, row_terms in zip(wanted, rows, terms, strict=True):
            out[i] = _ModelView(dict(zip(classes, map(float, row), strict=True)), row_terms)
        return out

    def _given(self, ticket: Ticket, severity: str, now: datetime | None) -> dict[str, Any]:
        """The result for a ticket whose severity was given: the SLA for it, nothing classified."""
        reason: dict[str, Any] = {
            "kind": "input",
            "rule": None,
            "severity": severity,
            "decisive": True,
            "explanation": "The severity was given in the input; only the SLA was computed.",
            "evidence": [],
        }
        return self._result(ticket, severity, "input", 1.0, False, [reason], None, now)

    def _result(
        self,
        ticket: Ticket,
        severity: str,
        source: str,
        confidence: float,
        needs_review: bool,
        reasons: list[dict[str, Any]],
        report: SignalReport | None,
        now: datetime | None,
    ) -> dict[str, Any]:
        """The JSON-ready result record (see the README for its fields)."""
        return {
            "id": ticket.id,
            "severity": severity,
            "severity_label": SEVERITY_LABELS[severity],
            "source": source,
            "confidence": round(confidence, 4),
            "needs_review": needs_review,
            "language": report.language if report is not None else ticket.language,
            "reasons": reasons,
            "signals": {n: v for n, v in report.facts.items() if v} if report is not None else {},
            "negated": [ev.as_dict() for ev in report.negated] if report is not None else [],
            "sla": self.deadlines(ticket, severity, now),
            "versions": self.versions,
        }

    def triage(self, record: Any, now: datetime | None = None) -> dict[str, Any]:
        """Classify one ticket (a mapping or a ``Ticket``). Raises ``InputError`` for bad input."""
        prepared = self._prepare(record)
        return self._finish(prepared, self._probabilities([prepared])[0], now)

    def triage_records(
        self, records: Iterable[tuple[int, Any]], now: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """One output per input, in order: a result or an error record (id, line, error).
        Records are taken a chunk at a time (``chunks``): the prefilter and the model each run
        once over a chunk."""
        for chunk in self.chunks(records):
            yield from self._flush(self._prepare_chunk(chunk), now)

    def chunks(self, records: Iterable[tuple[int, Any]]) -> Iterator[list[tuple[int, Any]]]:
        """(line, record) pairs in chunks of ``chunk_size``, or fewer once their subjects and
        bodies reach ``chunk_chars`` characters: a chunk's texts are held several times over
        (folded, as bytes, lower-cased for the model), so long tickets make shorter chunks."""
        pending: list[tuple[int, Any]] = []
        chars = 0
        for line, record in records:
            pending.append((line, record))
            chars += _text_chars(record)
            if len(pending) >= self.chunk_size or chars >= self.chunk_chars:
                yield pending
                pending, chars = [], 0
        if pending:
            yield pending

    def _prepare_chunk(
        self, pending: list[tuple[int, Any]]
    ) -> list[tuple[int, _Prepared | dict[str, Any]]]:
        """``_prepare`` of each record of a chunk (an error record for bad input), with the
        signals of the chunk's tickets found together (``extract_many``)."""
        parsed = [(line, self._parse_or_error(line, record)) for line, record in pending]
        wanted = [t for _, t in parsed if isinstance(t, Ticket) and t.severity is None]
        found = extract_many([(t.subject, t.body, t.language) for t in wanted], self.config)
        reports = iter(found)
        out: list[tuple[int, _Prepared | dict[str, Any]]] = []
        for line, item in parsed:
            if not isinstance(item, Ticket):
                out.append((line, item))
            elif item.severity is not None:
                out.append((line, self._prepare(item)))
            else:
                report = next(reports)
                out.append((line, _Prepared(item, report, self.evaluate(report.facts))))
        return out

    def _parse_or_error(self, line: int, record: Any) -> Ticket | dict[str, Any]:
        if isinstance(record, InputError):
            return error_record(line, None, record)
        if isinstance(record, Ticket):
            return record
        try:
            return self.parse(record)
        except InputError as exc:
            known = record.get("id") if isinstance(record, Mapping) else None
            return error_record(line, known if isinstance(known, str | int) else None, exc)

    def _flush(
        self, pending: list[tuple[int, _Prepared | dict[str, Any]]], now: datetime | None
    ) -> Iterator[dict[str, Any]]:
        good = [item for _, item in pending if isinstance(item, _Prepared)]
        views = iter(self._probabilities(good))
        for _, item in pending:
            yield (self._finish(item, next(views), now) if isinstance(item, _Prepared) else item)

    def _finish(
        self, prepared: _Prepared, view: _ModelView | None, now: datetime | None
    ) -> dict[str, Any]:
        ticket, report, decision = prepared.ticket, prepared.report, prepared.decision
        if ticket.severity is not None:
            return self._given(ticket, ticket.severity, now)
        severity_rules = self.config.severity
        if decision.rule is not None:
            rule_severity: str | None = decision.rule.severity
            rule_conf = _rule_confidence(decision.rule, report, severity_rules.hedge_penalty)
        else:
            rule_severity, rule_conf = None, severity_rules.default_confidence
        if view is not None:
            combined = combine(
                rule_severity, rule_conf, view.probabilities, self.policy, report.facts
            )
            severity, source = combined.severity, combined.source
            confidence, needs_review = combined.confidence, combined.needs_review
            model_decisive = combined.model_decisive
        else:
            severity = rule_severity or severity_rules.default_severity
            source, confidence, model_decisive = "rules", rule_conf, False
            needs_review = rule_severity is None or rule_conf < severity_rules.review_below
        reasons = self._reasons(prepared, severity, model_decisive, view)
        return self._result(
            ticket, severity, source, confidence, needs_review, reasons, report, now
        )

    def deadlines(self, ticket: Ticket, severity: str, now: datetime | None) -> dict[str, Any]:
        """The SLA deadlines for ``severity``; created_at defaults to ``now`` (the intake time),
        the zone to UTC. Problems (no plan, a calendar that needs the country) are reported in
        the result, so the classification is never lost."""
        base: dict[str, Any] = {"plan": ticket.plan, "policy_version": self.sla.version}
        if ticket.plan is None:
            return base | {"applies": False, "reason": "the ticket has no plan"}
        created = ticket.created_at or now
        if created is None:
            return base | {"applies": False, "reason": "no created_at on the ticket and no 'now'"}
        try:
            result = self.sla.deadlines(
                ticket.plan, severity, created, ticket.timezone or "UTC", ticket.country
            ).as_dict()
        except SlaError as exc:
            field, _, message = str(exc).partition(": ")
            error = {"code": "sla_error", "field": field, "message": message or str(exc)}
            return base | {"applies": False, "error": error}
        if ticket.created_at is None:
            result["created_at"] = created.isoformat()
            result["created_at_from"] = "now"
        return result

    def _reasons(
        self,
        prepared: _Prepared,
        severity: str,
        model_decisive: bool,
        view: _ModelView | None,
    ) -> list[dict[str, Any]]:
        report, decision = prepared.report, prepared.decision
        reasons: list[dict[str, Any]] = []
        if decision.rule is not None:
            ordered = [decision.rule, *(r for r in decision.fired if r is not decision.rule)]
            rule_decisive = not model_decisive and decision.rule.severity == severity
            reasons = [
                _rule_reason(r, report, rule_decisive and r is decision.rule) for r in ordered
            ]
        elif view is None:
            no_rule = self.config.severity.no_rule_explain
            reasons = [
                {
                    "kind": "default",
                    "rule": None,
                    "severity": severity,
                    "decisive": True,
                    "explanation": no_rule.get(report.language) or no_rule["en"],
                    "evidence": [],
                }
            ]
        if view is not None and self.model is not None:
            reasons.append(self._model_reason(prepared, view, model_decisive))
        reasons.sort(key=lambda r: not r["decisive"])
        return reasons

    def _model_reason(
        self, prepared: _Prepared, view: _ModelView, decisive: bool
    ) -> dict[str, Any]:
        assert self.model is not None
        probabilities, terms = view.probabilities, view.terms
        predicted = max(probabilities, key=probabilities.__getitem__)
        lang = prepared.report.language
        words = ", ".join(t for t, _ in terms[:3])
        explanation = (
            f"El modelo sugiere {predicted} ({probabilities[predicted]:.0%}); términos: {words}."
            if lang == "es"
            else f"The model suggests {predicted} ({probabilities[predicted]:.0%}); terms: {words}."
        )
        return {
            "kind": "model",
            "model": self.model.version,
            "severity": predicted,
            "decisive": decisive,
            "probability": round(probabilities[predicted], 4),
            "probabilities": {k: round(v, 4) for k, v in probabilities.items()},
            "explanation": explanation,
            "terms": [{"term": t, "weight": round(w, 4)} for t, w in terms],
        }

    def warm_up(self, records: Iterable[Any], now: datetime | None = None) -> int:
        """Triage ``records`` and drop the results; returns how many were read. RE2 builds the
        states of its automata (the prefilter's sets, each pattern's program) as texts first
        need them and keeps them: over a fresh triager's first 2,500 tickets the sets alone
        cost 92 us a ticket, 35-40 after 5,000 (a long ticket's sets 200 us cold, 50 warm).
        A service warms a new triager with recent tickets before it serves, so that neither
        a restart nor a reload puts its first thousands of requests at cold-start speed.
        Bad records are counted and skipped like any other."""
        count = 0
        for _ in self.triage_records(enumerate(records), now):
            count += 1
        return count

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


def load_model(path: Path | None = None) -> ModelLike:
    """The fallback model at ``path`` (default: ``$SEVTRIAGE_MODEL`` or ``models/default.joblib``),
    verified against its card. Raises ``ModelError``: a refused model is never silently skipped."""
    from sevtriage.modelfile import default_model_path, load_for_serving

    return load_for_serving(path if path is not None else default_model_path())


def default_triager() -> Triager:
    """The process-wide triager: default rules and the default model, built on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Triager(model=load_model())
        return _default


def rescore_impact(signals: Mapping[str, bool], text: str) -> tuple[str | None, list[str]]:
    """Re-score a customer's stated impact with the default severity rules."""
    return default_triager().rescore_impact(signals, text)
