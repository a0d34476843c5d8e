"""Combining the rules' decision with the fallback model's probabilities (an asymmetric policy).

- No rule fired: the model decides (``source = "model"``).
- Rule and model agree: ``source = "rules+model"``, confidence is the larger of the two.
- The model is more severe (an upgrade towards P1): accepted when its probability reaches
  ``upgrade_min_probability``.
- The model is less severe (a downgrade): accepted only when the rule was not clear evidence
  (confidence under ``rules_clear_confidence``), the probability reaches
  ``downgrade_min_probability``, and the rule did not say P1.
- A P1 from the rules is downgraded only when ``p1_downgrade_min_probability`` is set and the
  model's less severe suggestion reaches it, whatever the rule's confidence; such a result always
  needs review (the model overruled the most severe rule). Without the setting a P1 from the
  rules is never downgraded by the model.
- An upgrade over a rule on a ticket that states a workaround that works (``workaround_upgrade``:
  a condition over the signals and its own ``min_probability``) needs that probability instead:
  the spec puts a short-term workaround at P3, and the model reads "the export fails" as P2 with
  or without the customer's "we split the list for now". Optional; without it, every upgrade
  needs ``upgrade_min_probability``.
- Otherwise the rule stands (``source = "rules"``), flagged for review when the model disagrees
  with probability ``disagreement_review_probability`` or more.

Pure functions of their inputs; the thresholds are data (``rules/combination.yaml``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from sevtriage.config import SEVERITIES, Condition, SignalsFile, read_yaml, validate_model
from sevtriage.errors import ConfigError, ConfigProblem
from sevtriage.rules import matches


class WorkaroundUpgrade(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_probability: float = Field(ge=0.0, le=1.0)
    when: Condition


class CombinationPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    rules_clear_confidence: float = Field(ge=0.0, le=1.0)
    upgrade_min_probability: float = Field(ge=0.0, le=1.0)
    downgrade_min_probability: float = Field(ge=0.0, le=1.0)
    review_below: float = Field(ge=0.0, le=1.0)
    disagreement_review_probability: float = Field(ge=0.0, le=1.0)
    workaround_upgrade: WorkaroundUpgrade | None = None
    p1_downgrade_min_probability: float | None = Field(default=None, ge=0.5, le=1.0)


def load_policy(rules_dir: Path) -> CombinationPolicy:
    """The combination policy (versioned with the rules); ``ConfigError`` when missing/invalid,
    or when ``workaround_upgrade`` names a signal ``signals.yaml`` does not define."""
    path = rules_dir / "combination.yaml"
    problems: list[ConfigProblem] = []
    if not path.is_file():
        raise ConfigError([ConfigProblem(str(path), "", "required file is missing")])
    policy = validate_model(CombinationPolicy, read_yaml(path, problems), path, problems)
    if problems or policy is None:
        raise ConfigError(problems)
    if policy.workaround_upgrade is not None:
        signals_path = rules_dir / "signals.yaml"
        known = validate_model(
            SignalsFile, read_yaml(signals_path, problems), signals_path, problems
        )
        if problems or known is None:
            raise ConfigError(problems)
        for name in policy.workaround_upgrade.when.signal_names():
            if name not in known.signals:
                where = "workaround_upgrade.when"
                problems.append(
                    ConfigProblem(
                        str(path), where, f"unknown signal {name!r} (not in signals.yaml)"
                    )
                )
        if problems:
            raise ConfigError(problems)
    return policy


@dataclass(frozen=True)
class Combined:
    severity: str
    source: str
    confidence: float
    needs_review: bool
    model_decisive: bool


def _more_severe(a: str, b: str) -> bool:
    return SEVERITIES.index(a) < SEVERITIES.index(b)


def combine(
    rule_severity: str | None,
    rule_confidence: float,
    model_probabilities: dict[str, float],
    policy: CombinationPolicy,
    facts: Mapping[str, bool] | None = None,
) -> Combined:
    """The final severity from the rules' answer (None when no rule fired) and the model's;
    ``facts``, the ticket's signals, for ``workaround_upgrade``."""
    model_severity = max(
        SEVERITIES, key=lambda s: (model_probabilities.get(s, 0.0), -SEVERITIES.index(s))
    )
    p_model = model_probabilities[model_severity]
    if rule_severity is None:
        return Combined(model_severity, "model", p_model, p_model < policy.review_below, True)
    if model_severity == rule_severity:
        confidence = max(rule_confidence, p_model)
        return Combined(
            rule_severity, "rules+model", confidence, confidence < policy.review_below, False
        )
    if _more_severe(model_severity, rule_severity):
        needed = policy.upgrade_min_probability
        special = policy.workaround_upgrade
        if special is not None and facts is not None and matches(special.when, facts):
            needed = special.min_probability
        if p_model >= needed:
            return Combined(
                model_severity, "rules+model", p_model, p_model < policy.review_below, True
            )
    elif rule_severity == "P1":
        bar = policy.p1_downgrade_min_probability
        if bar is not None and p_model >= bar:
            return Combined(model_severity, "rules+model", p_model, True, True)
    elif (
        rule_confidence < policy.rules_clear_confidence
        and p_model >= policy.downgrade_min_probability
    ):
        return Combined(model_severity, "rules+model", p_model, p_model < policy.review_below, True)
    disagreement = p_model >= policy.disagreement_review_probability
    review = disagreement or rule_confidence < policy.review_below
    return Combined(rule_severity, "rules", rule_confidence, review, False)
