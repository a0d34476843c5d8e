"""The severity rules on the durable-rules engine. The only module that imports ``durable``.

The engine's traps (see ``shared/notes/durable-rules.md``) are handled here once:

- an explicit ``Host`` whose ``_run`` starts no timer threads (they race the caller);
- the ruleset JSON is built fresh from ``rules/severity.yaml`` for each engine (``set_rulesets``
  mutates its argument) under a name unique in the process (names cannot be registered twice);
- facts are real booleans, every signal present (a missing field matches nothing; ``"true"``
  would match ``true``), plus a ``ticket`` marker that a lowest-priority catch-all tests, so "no
  rule fired" is an ordinary answer and an action always runs (``delete_state`` on a session where
  no action ran crashes the process);
- a rule with an ``$or`` fires once per true branch: fired ids are de-duplicated;
- each evaluation asserts the facts in a fresh session, the actions append their rule id to the
  session state, the session is deleted afterwards (1,024 live sessions is the limit);
- conditions test signal names only, never a state field (that makes ``post`` loop forever);
- an exception raised inside an action is stored in the state: it is checked and raised as ours;
- the C core has no locking: calls are serialised with a lock.

``assert_fact`` (not ``post``) is used because it fires *every* matching rule in ``pri`` order, so
one call gives both the decision and the list of fired rules.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from durable import engine as _durable

from sevtriage.config import SEVERITIES, Condition, RulesConfig, SeverityRule
from sevtriage.errors import ConfigError, ConfigProblem, EngineError

_CATCH_ALL = "__no_rule__"
_TICKET_MARKER = "ticket"
_names = itertools.count()


@dataclass(frozen=True)
class RuleDecision:
    """The rules' answer for one set of facts: the deciding rule (or None) and every fired rule."""

    rule: SeverityRule | None
    fired: tuple[SeverityRule, ...]

    @property
    def severity(self) -> str | None:
        return self.rule.severity if self.rule is not None else None


class _ThreadlessHost(_durable.Host):  # type: ignore[misc]
    """A durable Host that starts no dispatcher threads and runs actions given by name."""

    def __init__(self, actions: Mapping[str, Callable[[Any], None]]) -> None:
        self._actions = dict(actions)
        super().__init__()

    def _run(self) -> None:
        """Deliberately empty: the default starts timer threads that also run actions."""

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        try:
            return self._actions[action_name]
        except KeyError:
            raise EngineError(f"rules engine asked for unknown action {action_name!r}") from None


def _recorder(rule_id: str) -> Callable[[Any], None]:
    def record(c: Any) -> None:
        previous = c.s.fired
        c.s.fired = rule_id if previous is None else f"{previous}\n{rule_id}"

    return record


def condition_json(when: Condition) -> dict[str, Any]:
    """The durable-rules JSON condition for a rule's ``when`` (all / any / none of signals)."""
    terms: list[dict[str, Any]] = [{name: True} for name in when.all]
    if when.any:
        terms.append({"$or": [{name: True} for name in when.any]})
    terms.extend({name: False} for name in when.none)
    return terms[0] if len(terms) == 1 else {"$and": terms}


def ruleset_json(rules: list[SeverityRule]) -> dict[str, Any]:
    """A fresh durable-rules ruleset definition: one rule per severity rule, plus the catch-all."""
    definition: dict[str, Any] = {
        rule.id: {"pri": rule.priority, "all": [{"m": condition_json(rule.when)}], "run": rule.id}
        for rule in rules
    }
    lowest = max(rule.priority for rule in rules) + 1
    definition[_CATCH_ALL] = {
        "pri": lowest,
        "all": [{"m": {"$ex": {_TICKET_MARKER: 1}}}],
        "run": _CATCH_ALL,
    }
    return definition


def matches(when: Condition, facts: Mapping[str, bool]) -> bool:
    """Plain-Python meaning of a condition; the engine must agree with it (parity tests)."""
    return (
        all(facts.get(n, False) for n in when.all)
        and (not when.any or any(facts.get(n, False) for n in when.any))
        and not any(facts.get(n, False) for n in when.none)
    )


def decide(fired: list[SeverityRule]) -> SeverityRule | None:
    """The deciding rule: most severe first, then lowest priority number."""
    if not fired:
        return None
    return min(fired, key=lambda r: (SEVERITIES.index(r.severity), r.priority))


def evaluate_in_python(rules: list[SeverityRule], facts: Mapping[str, bool]) -> RuleDecision:
    """The same decision without the engine: the reference for parity tests and a way out."""
    fired = sorted((r for r in rules if matches(r.when, facts)), key=lambda r: r.priority)
    return RuleDecision(rule=decide(fired), fired=tuple(fired))


class RulesEngine:
    """Severity rules loaded into a private durable-rules host, evaluated one ticket at a time.

    Thread-safe (calls are serialised). ``cache_size`` memoises decisions per distinct fact
    vector: the engine is a pure function of the facts. Long tickets combine many signals, so
    full vectors repeat less than one would hope (a quarter of 3,000 long-tail tickets were new
    vectors, each ~0.4 ms on the engine). So the engine's answers are also remembered per rule:
    every rule's pattern tests only its own signals (``condition_json``), so whether it fires
    depends only on the vector restricted to them. A new vector whose restriction to every rule
    has been seen in some earlier engine answer is decided from those answers; otherwise the
    engine runs and its answer teaches every rule. At most the sum over rules of 2^(own signals)
    engine calls ever happen (a few hundred in practice); ``engine_calls`` counts them.
    ``cache_size=0`` turns both memos off (every call goes to the engine: the parity tests).
    """

    def __init__(self, config: RulesConfig, cache_size: int = 4096) -> None:
        self._signal_names = config.signal_names
        self._known = frozenset(config.signal_names)
        self._rules = list(config.severity.rules)
        self._by_id = {rule.id: rule for rule in self._rules}
        self.version = config.version
        self._name = f"severity_{next(_names)}"
        actions = {rule.id: _recorder(rule.id) for rule in self._rules}
        actions[_CATCH_ALL] = _recorder(_CATCH_ALL)
        self._host = _ThreadlessHost(actions)
        try:
            self._host.set_rulesets({self._name: ruleset_json(self._rules)})
        except Exception as exc:  # the C core reports bad JSON as "error code: 202"
            raise ConfigError(
                [
                    ConfigProblem(
                        str(config.directory / "severity.yaml"),
                        "rules",
                        f"engine refused the rules: {exc}",
                    )
                ]
            ) from exc
        self._lock = threading.Lock()
        self._sessions = itertools.count()
        self._cache: dict[tuple[bool, ...], RuleDecision] = {}
        self._cache_size = cache_size
        position = {name: i for i, name in enumerate(self._signal_names)}
        self._own: list[tuple[int, ...]] = [
            tuple(sorted({position[n] for n in (*r.when.all, *r.when.any, *r.when.none)}))
            for r in self._rules
        ]
        self._seen: list[dict[tuple[bool, ...], bool]] = [{} for _ in self._rules]
        self.engine_calls = 0

    def _facts_vector(self, facts: Mapping[str, bool]) -> tuple[bool, ...]:
        unknown = facts.keys() - self._known
        if unknown:
            raise EngineError(
                f"unknown signal(s) {sorted(unknown)}; known: {list(self._signal_names)}"
            )
        return tuple(bool(facts.get(name, False)) for name in self._signal_names)

    def evaluate(self, facts: Mapping[str, bool]) -> RuleDecision:
        """Every rule that fires for these facts, and the deciding one (None when none fires)."""
        vector = self._facts_vector(facts)
        if self._cache_size <= 0:
            return self._evaluate_on_engine(vector)
        cached = self._cache.get(vector)
        if cached is not None:
            return cached
        decision = self._from_rules_seen(vector)
        if decision is None:
            decision = self._evaluate_on_engine(vector)
            self._learn(vector, decision)
        if len(self._cache) >= self._cache_size:
            self._cache.pop(next(iter(self._cache)), None)  # oldest first (insertion order)
        self._cache[vector] = decision
        return decision

    def _from_rules_seen(self, vector: tuple[bool, ...]) -> RuleDecision | None:
        """The decision from per-rule answers the engine gave before, or None if some rule has
        not been seen on this vector's values of its signals."""
        fired: list[SeverityRule] = []
        for rule, own, seen in zip(self._rules, self._own, self._seen, strict=True):
            fires = seen.get(tuple([vector[i] for i in own]))
            if fires is None:
                return None
            if fires:
                fired.append(rule)
        fired.sort(key=lambda r: r.priority)
        return RuleDecision(rule=decide(fired), fired=tuple(fired))

    def _learn(self, vector: tuple[bool, ...], decision: RuleDecision) -> None:
        fired = {rule.id for rule in decision.fired}
        with self._lock:  # dict writes from several threads: keep them ordered with the engine
            for rule, own, seen in zip(self._rules, self._own, self._seen, strict=True):
                seen[tuple([vector[i] for i in own])] = rule.id in fired

    def _evaluate_on_engine(self, vector: tuple[bool, ...]) -> RuleDecision:
        message: dict[str, Any] = dict(zip(self._signal_names, vector, strict=True))
        message[_TICKET_MARKER] = 1
        with self._lock:
            self.engine_calls += 1
            sid = str(next(self._sessions))
            message["sid"] = sid
            try:
                state = self._host.assert_fact(self._name, message)
            except Exception as exc:
                # No delete here: deleting a session in which no action ran crashes the process.
                raise EngineError(
                    f"rules engine failed on facts {json.dumps(message)}: {exc}"
                ) from exc
            self._delete_session(sid)
        if not isinstance(state, dict):
            raise EngineError(f"rules engine returned no state for facts {json.dumps(message)}")
        if "exception" in state:
            raise EngineError(f"a rule action failed: {state['exception']}")
        # A rule whose `$or` has several true branches fires once per branch: keep each id once.
        names = dict.fromkeys(
            n for n in str(state.get("fired", "")).split("\n") if n and n != _CATCH_ALL
        )
        if _CATCH_ALL not in str(state.get("fired", "")):
            raise EngineError(
                "rules engine did not run the catch-all rule; the state is not trustworthy"
            )
        fired = sorted((self._by_id[n] for n in names), key=lambda r: r.priority)
        return RuleDecision(rule=decide(fired), fired=tuple(fired))

    def _delete_session(self, sid: str) -> None:
        try:
            self._host.delete_state(self._name, sid)
        except (
            Exception
        ) as exc:  # a session that cannot be deleted would leak towards the 1,024 limit
            raise EngineError(f"rules engine could not delete session {sid}: {exc}") from exc
