"""Combining the rules' answer with the model's: the workaround rule of the policy, from the
shipped rules/combination.yaml, and its validation at load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sevtriage.combine import combine, load_policy
from sevtriage.errors import ConfigError
from sevtriage.triage import Triager

P2_AT_48 = {"P1": 0.05, "P2": 0.48, "P3": 0.42, "P4": 0.05}
P2_AT_55 = {"P1": 0.05, "P2": 0.55, "P3": 0.35, "P4": 0.05}


@pytest.mark.parametrize(
    ("facts", "probabilities", "expected"),
    [
        ({}, P2_AT_48, "P2"),  # an ordinary upgrade: 0.48 reaches upgrade_min_probability
        ({"workaround": True}, P2_AT_48, "P3"),  # a working workaround: 0.48 is not enough
        ({"workaround_temporary": True}, P2_AT_48, "P3"),
        ({"workaround": True}, P2_AT_55, "P2"),  # ... 0.55 is
        ({"workaround": True, "workaround_insufficient": True}, P2_AT_48, "P2"),
        ({"workaround": True, "no_workaround": True}, P2_AT_48, "P2"),
    ],
)
def test_an_upgrade_over_a_stated_working_workaround_needs_more_probability(
    triager: Triager, facts: dict[str, bool], probabilities: dict[str, float], expected: str
) -> None:
    policy = triager.policy
    assert policy.workaround_upgrade is not None
    assert policy.upgrade_min_probability < 0.48 < policy.workaround_upgrade.min_probability < 0.55
    combined = combine("P3", 0.65, probabilities, policy, facts)
    assert combined.severity == expected
    assert combined.model_decisive == (expected == "P2")
    # Without the ticket's facts (older callers) every upgrade takes the ordinary threshold.
    assert combine("P3", 0.65, probabilities, policy).severity == "P2"


def test_a_downgrade_is_not_touched_by_the_workaround_rule(triager: Triager) -> None:
    to_p3 = {"P1": 0.02, "P2": 0.3, "P3": 0.6, "P4": 0.08}
    assert combine("P2", 0.7, to_p3, triager.policy, {"workaround": True}).severity == "P3"
    assert combine("P1", 0.9, to_p3, triager.policy, {"workaround": True}).severity == "P1"


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        (
            "workaround_temporary]",
            "work_around_temp]",
            ["workaround_upgrade.when", "work_around_temp"],
        ),
        ("  min_probability: 0.5\n", "", ["min_probability"]),
    ],
)
def test_a_broken_workaround_rule_is_refused_at_load(
    tmp_path: Path, repo: Path, old: str, new: str, named: list[str]
) -> None:
    """An unknown signal name, or the rule without its probability: a clear error at load."""
    rules = tmp_path / "rules"
    shutil.copytree(repo / "rules", rules)
    path = rules / "combination.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_policy(rules)
    assert all(part in str(info.value) for part in named), str(info.value)


@pytest.mark.parametrize(
    ("p2", "expected"), [(0.80, "P1"), (0.89, "P1"), (0.90, "P2"), (0.97, "P2")]
)
def test_a_rules_p1_gives_way_only_to_a_very_sure_model_and_is_then_reviewed(
    triager: Triager, p2: float, expected: str
) -> None:
    policy = triager.policy
    assert policy.p1_downgrade_min_probability == 0.9
    rest = (1.0 - p2) / 3
    probabilities = {"P1": rest, "P2": p2, "P3": rest, "P4": rest}
    combined = combine("P1", 0.9, probabilities, policy, {"outage": True})
    assert combined.severity == expected
    assert combined.model_decisive == (expected == "P2")
    # Reviewed either way: overruled by the model, or standing against a model >= 0.5 sure.
    assert combined.needs_review is True
    # The ordinary downgrade bar (0.5) and the rule's confidence play no part for a P1.
    assert combine("P1", 0.5, probabilities, policy).severity == expected
    # Without the setting a rules P1 is never downgraded.
    never = policy.model_copy(update={"p1_downgrade_min_probability": None})
    assert combine("P1", 0.5, {"P1": 0.0, "P2": 1.0, "P3": 0.0, "P4": 0.0}, never).severity == "P1"


def test_a_p1_downgrade_bar_under_one_half_is_refused_at_load(tmp_path: Path, repo: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(repo / "rules", rules)
    path = rules / "combination.yaml"
    text = path.read_text()
    assert "p1_downgrade_min_probability: 0.9" in text
    path.write_text(
        text.replace("p1_downgrade_min_probability: 0.9", "p1_downgrade_min_probability: 0.3")
    )
    with pytest.raises(ConfigError) as info:
        load_policy(rules)
    assert "p1_downgrade_min_probability" in str(info.value)
