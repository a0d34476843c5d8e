"""The durable-rules engine behind the severity rules: parity, traps, determinism."""

from __future__ import annotations

import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.config import RulesConfig
from sevtriage.rules import RulesEngine, evaluate_in_python
from sevtriage.triage import Triager


def _facts(config: RulesConfig) -> st.SearchStrategy[dict[str, bool]]:
    return st.fixed_dictionaries({name: st.booleans() for name in config.signal_names})


def test_engine_agrees_with_plain_python_on_generated_facts(triager: Triager) -> None:
    """The engine (no cache) and the reference evaluator fire the same rules, same decision."""
    engine = RulesEngine(triager.config, cache_size=0)
    rules = list(triager.config.severity.rules)

    @settings(max_examples=1500, deadline=None)
    @given(_facts(triager.config))
    def check(facts: dict[str, bool]) -> None:
        got = engine.evaluate(facts)
        want = evaluate_in_python(rules, facts)
        assert [r.id for r in got.fired] == [r.id for r in want.fired]
        assert got.severity == want.severity

    check()


def test_more_than_1024_tickets_do_not_exhaust_engine_sessions(triager: Triager) -> None:
    """Sessions are deleted after each ticket (the engine allows 1,024 live sessions)."""
    engine = RulesEngine(triager.config, cache_size=0)
    names = triager.config.signal_names
    for i in range(2500):
        facts = {name: (i >> (k % 12)) & 1 == 1 for k, name in enumerate(names)}
        engine.evaluate(facts)


def test_facts_do_not_leak_from_one_ticket_to_the_next(triager: Triager) -> None:
    engine = RulesEngine(triager.config, cache_size=0)
    loud = dict.fromkeys(triager.config.signal_names, False) | {"outage": True, "data_loss": True}
    quiet = dict.fromkeys(triager.config.signal_names, False)
    assert engine.evaluate(loud).severity == "P1"
    nothing = engine.evaluate(quiet)
    assert nothing.rule is None and nothing.fired == ()


def test_no_rule_fired_is_an_ordinary_result(triager: Triager) -> None:
    result = triager.triage({"id": "t", "body": "Hello, the weather is nice today."})
    assert result["source"] == "rules"
    assert result["severity"] == triager.config.severity.default_severity
    assert result["needs_review"] is True
    assert result["reasons"][0]["kind"] == "default"


def test_every_fired_rule_is_listed_most_severe_first(triager: Triager) -> None:
    result = triager.triage(
        {
            "id": "t",
            "body": "The whole platform is down and we lost all our contacts. How do I restore them?",
        }
    )
    rules = [r["rule"] for r in result["reasons"]]
    assert rules[0] == "P1.data_loss"
    assert "P1.service_down" in rules
    severities = [r["severity"] for r in result["reasons"]]
    assert severities == sorted(severities)


def test_two_engines_from_the_same_rules_coexist(triager: Triager) -> None:
    """Ruleset names are unique per engine: a reload does not collide with the first engine."""
    first = RulesEngine(triager.config, cache_size=0)
    second = RulesEngine(triager.config, cache_size=0)
    facts = dict.fromkeys(triager.config.signal_names, False) | {"degradation": True}
    assert first.evaluate(facts).severity == second.evaluate(facts).severity == "P2"


def test_concurrent_threads_get_correct_answers(triager: Triager) -> None:
    """The C core has no locking; the wrapper serialises calls so threads never see wrong state."""
    engine = RulesEngine(triager.config, cache_size=0)
    rules = list(triager.config.severity.rules)
    names = triager.config.signal_names
    failures: list[str] = []

    def work(seed: int) -> None:
        for i in range(300):
            facts = {name: ((i * 7 + seed) >> (k % 9)) & 1 == 1 for k, name in enumerate(names)}
            if engine.evaluate(facts).severity != evaluate_in_python(rules, facts).severity:
                failures.append(f"{seed}:{i}")

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_versions_travel_with_each_result(triager: Triager) -> None:
    result = triager.triage({"id": "t", "body": "How do I add an agent?"})
    assert result["versions"]["rules"] == triager.config.version
    assert result["versions"]["rules"].startswith("rules-")


def test_decisions_from_per_rule_memory_equal_the_engines(triager: Triager) -> None:
    """With the memos on, every decision (new vectors decided from earlier per-rule answers
    included) equals the reference; and far fewer engine calls than distinct vectors happen."""
    engine = RulesEngine(triager.config)
    rules = list(triager.config.severity.rules)
    vectors: set[tuple[bool, ...]] = set()

    @settings(max_examples=3000, deadline=None)
    @given(_facts(triager.config))
    def check(facts: dict[str, bool]) -> None:
        vectors.add(tuple(facts.values()))
        got = engine.evaluate(facts)
        want = evaluate_in_python(rules, facts)
        assert [r.id for r in got.fired] == [r.id for r in want.fired]
        assert got.rule is want.rule or (got.rule is not None and got.rule.id == want.rule.id)

    check()
    assert engine.engine_calls < len(vectors)
    bound = sum(2 ** len({*r.when.all, *r.when.any, *r.when.none}) for r in rules)
    assert engine.engine_calls <= bound
