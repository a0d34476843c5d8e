"""Evaluation metrics against hand-computed numbers; reports, gate, plot and backtest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sevtriage.evaluate import (
    backtest,
    classification_report,
    evaluate_systems,
    plot_confusions,
    promotion_gate,
    review_thresholds,
    severity_mix,
)
from sevtriage.importers import read_labelled
from sevtriage.model import SeverityModel, save_model, train_model

REPO = Path(__file__).resolve().parents[1]


def test_report_matches_a_hand_computed_case() -> None:
    """7 tickets; P4 is never predicted (precision/recall/F1 0 by convention)."""
    y_true = ["P1", "P1", "P1", "P2", "P3", "P3", "P4"]
    y_pred = ["P1", "P1", "P2", "P2", "P2", "P3", "P3"]
    report = classification_report(y_true, y_pred)
    assert report["confusion"] == [[2, 1, 0, 0], [0, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0]]
    pc = report["per_class"]
    assert pc["P1"] == {
        "precision": 1.0,
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx(0.8),
        "support": 3,
    }
    assert pc["P2"] == {
        "precision": pytest.approx(1 / 3),
        "recall": 1.0,
        "f1": pytest.approx(0.5),
        "support": 1,
    }
    assert pc["P3"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert pc["P4"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["macro_f1"] == pytest.approx(0.45)
    assert report["accuracy"] == pytest.approx(4 / 7)
    assert report["p1_recall"] == pytest.approx(2 / 3)
    assert report["n"] == 7


def test_report_rejects_length_mismatch() -> None:
    with pytest.raises(ValueError, match="2 labels but 1 predictions"):
        classification_report(["P1", "P2"], ["P1"])


def test_review_thresholds_pick_lowest_probability_reaching_target_precision() -> None:
    """P1 predicted 10 times: the 5 at p=0.9 are right, the 5 at p=0.4 are wrong -> 0.45."""
    proba = np.array([[0.9, 0.05, 0.03, 0.02]] * 5 + [[0.4, 0.3, 0.2, 0.1]] * 5)
    truth = ["P1"] * 5 + ["P2"] * 5
    review = review_thresholds(truth, proba, target_precision=0.8)["review_below"]
    assert review["P1"] == pytest.approx(0.45)
    assert review["P2"] == 1.0  # never predicted: always review


def _comparison(cand: dict[str, float], base: dict[str, float]) -> dict[str, Any]:
    return {
        "systems": {
            f"{who}:{name}": values
            for who, values in (("candidate", cand), ("baseline", base))
            for name in ("model", "combined")
        }
    }


def test_promotion_gate_blocks_any_drop_in_macro_f1_or_p1_recall() -> None:
    base = {"macro_f1": 0.80, "p1_recall": 0.90}
    assert promotion_gate(_comparison({"macro_f1": 0.80, "p1_recall": 0.90}, base)) == []
    assert promotion_gate(_comparison({"macro_f1": 0.85, "p1_recall": 0.95}, base)) == []
    problems = promotion_gate(_comparison({"macro_f1": 0.81, "p1_recall": 0.85}, base))
    assert problems == [
        "model p1_recall 0.8500 < baseline 0.9000",
        "combined p1_recall 0.8500 < baseline 0.9000",
    ]


def test_severity_mix_counts_and_shares() -> None:
    mix = severity_mix(["P1", "P3", "P3", "P4"])
    assert mix["P3"] == {"count": 2, "share": 0.5}
    assert mix["P2"] == {"count": 0, "share": 0.0}


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return read_labelled([REPO / "data" / "test.jsonl"])[:120]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> SeverityModel:
    train = read_labelled([REPO / "data" / "train.jsonl"])[:400]
    return save_model(*train_model(train, folds=0), tmp_path_factory.mktemp("e") / "m.joblib")


def test_evaluate_reports_rules_model_and_combined_side_by_side(
    records: list[dict[str, Any]], model: SeverityModel
) -> None:
    report = evaluate_systems(records, model)
    assert list(report["systems"]) == ["rules", "model", "combined"]
    assert report["n"] == 120 and report["model"] == model.version
    for system in report["systems"].values():
        assert sum(map(sum, system["confusion"])) == 120
    assert list(evaluate_systems(records, None)["systems"]) == ["rules"]


def test_plot_writes_a_png(
    records: list[dict[str, Any]], model: SeverityModel, tmp_path: Path
) -> None:
    report = evaluate_systems(records[:20], model)
    plot_confusions(report["systems"], tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_backtest_of_the_same_configuration_agrees_fully(
    records: list[dict[str, Any]], model: SeverityModel
) -> None:
    report = backtest(records, None, model, None, model)
    assert report["agreement_with_current"] == {
        "share": 1.0,
        "changed_tickets": 0,
        "transitions": {},
    }
    assert report["severity_mix"]["changed"] == report["severity_mix"]["current"]
    assert sum(v["count"] for v in report["severity_mix"]["labels"].values()) == 120


def test_backtest_without_model_reports_transitions(
    records: list[dict[str, Any]], model: SeverityModel
) -> None:
    report = backtest(records, None, None, None, model)
    moved = report["agreement_with_current"]
    assert moved["changed_tickets"] == sum(moved["transitions"].values()) > 0
    assert report["configuration"]["model"] is None
    assert report["current_configuration"]["model"] == model.version
