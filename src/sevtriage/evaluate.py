"""Evaluation: exact classification metrics, rules / model / combined side by side, model
comparison, the promotion gate and the backtest of a changed configuration.

Every report is a plain JSON-ready dict (more keys can be added, e.g. the SLA part of a backtest).
Metrics are computed here by hand (not through sklearn.metrics) so that the definitions are in
one place and tested against hand-computed numbers: precision = TP / predicted, recall = TP /
actual, F1 = 2PR / (P + R), each 0.0 when its denominator is 0; macro-F1 is the unweighted mean
over the four labels; the confusion matrix has true labels as rows, predictions as columns.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sevtriage.errors import InputError, SlaError
from sevtriage.model import LABELS, SeverityModel, model_texts
from sevtriage.sla import SlaPolicies
from sevtriage.ticket import parse_datetime

SYSTEMS = ("rules", "model", "combined")


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def classification_report(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, Any]:
    """Per-class precision/recall/F1/support, accuracy, macro-F1, P1 recall, confusion matrix."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    index = {label: i for i, label in enumerate(LABELS)}
    confusion = [[0] * len(LABELS) for _ in LABELS]
    for truth, pred in zip(y_true, y_pred, strict=True):
        confusion[index[truth]][index[pred]] += 1
    per_class: dict[str, dict[str, float | int]] = {}
    for i, label in enumerate(LABELS):
        tp = confusion[i][i]
        predicted = sum(row[i] for row in confusion)
        actual = sum(confusion[i])
        precision, recall = _ratio(tp, predicted), _ratio(tp, actual)
        per_class[label] = {
            "precision": precision,
            "recall": recall,
            "f1": _ratio(2 * precision * recall, precision + recall),
            "support": actual,
        }
    correct = sum(confusion[i][i] for i in range(len(LABELS)))
    return {
        "n": len(y_true),
        "accuracy": _ratio(correct, len(y_true)),
        "macro_f1": sum(float(c["f1"]) for c in per_class.values()) / len(LABELS),
        "p1_recall": per_class["P1"]["recall"],
        "per_class": per_class,
        "confusion": confusion,
    }


def review_thresholds(
    y_true: Sequence[str], proba: np.ndarray, target_precision: float = 0.9
) -> dict[str, Any]:
    """Per predicted class, the lowest top probability at which predictions of that class reach
    ``target_precision`` on (out-of-fold) validation data; below it the prediction needs review.
    1.0 when no threshold reaches the target (always review)."""
    predicted = np.argmax(proba, axis=1)
    top = proba.max(axis=1)
    truth = np.asarray([LABELS.index(t) for t in y_true])
    out: dict[str, float] = {}
    for k, label in enumerate(LABELS):
        chosen = 1.0
        mask = predicted == k
        for t in np.round(np.arange(0.25, 1.0, 0.05), 2):
            kept = mask & (top >= t)
            if kept.sum() >= 5 and (truth[kept] == k).mean() >= target_precision:
                chosen = float(t)
                break
        out[label] = chosen
    return {
        "review_below": out,
        "rule": f"lowest top probability with precision >= {target_precision} on out-of-fold "
        "validation predictions (at least 5 of them); below it the prediction needs review",
    }


def model_predictions(
    model: SeverityModel, records: Sequence[Mapping[str, Any]], rules_dir: Path | None = None
) -> list[str]:
    """The model's own severity for each record, on the text triage gives it (``model_texts``:
    the boilerplate marked by the lexicons of ``rules_dir`` blanked)."""
    from sevtriage.config import load_rules

    return model.predict(model_texts(records, load_rules(rules_dir)))


def triager_predictions(
    records: Sequence[Mapping[str, Any]], rules_dir: Path | None, model: SeverityModel | None
) -> list[str]:
    """The severity the triage stage gives each record (rules only when ``model`` is None)."""
    from sevtriage.triage import Triager

    if model is not None and "model" not in inspect.signature(Triager.__init__).parameters:
        raise RuntimeError("this Triager cannot combine a model")  # pragma: no cover
    triager = Triager(rules_dir, model=model)
    # The label is not input to triage; "severity" would skip classification.
    inputs = [
        {k: v for k, v in r.items() if k not in {"label", "severity", "group"}} for r in records
    ]
    results = list(triager.triage_records(enumerate(inputs, start=1)))
    bad = [r for r in results if "error" in r]
    if bad:
        raise ValueError(f"{len(bad)} record(s) could not be triaged, first: {bad[0]}")
    return [str(r["severity"]) for r in results]


def system_predictions(
    records: Sequence[Mapping[str, Any]],
    model: SeverityModel | None,
    rules_dir: Path | None = None,
    systems: Sequence[str] = SYSTEMS,
) -> dict[str, list[str]]:
    """Predictions of each of ``systems`` (rules, model, combined) that can run."""
    out: dict[str, list[str]] = {}
    if "rules" in systems:
        out["rules"] = triager_predictions(records, rules_dir, None)
    if model is not None and "model" in systems:
        out["model"] = model_predictions(model, records, rules_dir)
    if model is not None and "combined" in systems:
        out["combined"] = triager_predictions(records, rules_dir, model)
    return out


def evaluate_systems(
    records: Sequence[Mapping[str, Any]],
    model: SeverityModel | None,
    rules_dir: Path | None = None,
) -> dict[str, Any]:
    """The evaluation report: one classification report per system, side by side."""
    labels = [str(r["label"]) for r in records]
    predictions = system_predictions(records, model, rules_dir)
    return {
        "n": len(records),
        "model": model.version if model is not None else None,
        "systems": {name: classification_report(labels, p) for name, p in predictions.items()},
    }


def compare_models(
    records: Sequence[Mapping[str, Any]],
    candidate: SeverityModel,
    baseline: SeverityModel,
    rules_dir: Path | None = None,
) -> dict[str, Any]:
    """Candidate vs baseline (model-only and combined) and the tickets whose severity changes
    in the combined pipeline (what the service would output)."""
    labels = [str(r["label"]) for r in records]
    systems = ("model", "combined")
    cand = system_predictions(records, candidate, rules_dir, systems)
    base = system_predictions(records, baseline, rules_dir, systems)
    changes = [
        {
            "id": r.get("id"),
            "label": labels[i],
            "baseline": base["combined"][i],
            "candidate": cand["combined"][i],
        }
        for i, r in enumerate(records)
        if base["combined"][i] != cand["combined"][i]
    ]
    return {
        "n": len(records),
        "candidate": candidate.version,
        "baseline": baseline.version,
        "systems": {
            f"{who}:{name}": classification_report(labels, preds[name])
            for who, preds in (("baseline", base), ("candidate", cand))
            for name in systems
        },
        "changes": changes,
        "changes_fixed": sum(c["candidate"] == c["label"] for c in changes),
        "changes_broken": sum(c["baseline"] == c["label"] for c in changes),
    }


GATE_METRICS = ("macro_f1", "p1_recall")


def promotion_gate(comparison: Mapping[str, Any]) -> list[str]:
    """Why the candidate may not be promoted: each metric (macro-F1, P1 recall) on which it is
    worse than the baseline, model-only or combined. Empty when it is not worse anywhere."""
    problems: list[str] = []
    systems = comparison["systems"]
    for name in ("model", "combined"):
        for metric in GATE_METRICS:
            cand = systems[f"candidate:{name}"][metric]
            base = systems[f"baseline:{name}"][metric]
            if cand < base - 1e-12:
                problems.append(f"{name} {metric} {cand:.4f} < baseline {base:.4f}")
    return problems


def severity_mix(predictions: Sequence[str]) -> dict[str, Any]:
    counts = Counter(predictions)
    n = len(predictions)
    return {
        label: {"count": counts.get(label, 0), "share": _ratio(counts.get(label, 0), n)}
        for label in LABELS
    }


def backtest(
    records: Sequence[Mapping[str, Any]],
    rules_dir: Path | None,
    model: SeverityModel | None,
    current_rules_dir: Path | None = None,
    current_model: SeverityModel | None = None,
    sla_dir: Path | None = None,
) -> dict[str, Any]:
    """Replay labelled tickets under a changed configuration (rules + model + SLA policies) and
    the current one: severity mix, agreement with the labels and with the current configuration,
    deadlines and the share that would have breached (``sla_outcomes``)."""
    labels = [str(r["label"]) for r in records]
    changed = triager_predictions(records, rules_dir, model)
    current = triager_predictions(records, current_rules_dir, current_model)
    changed_sla = SlaPolicies.load(sla_dir or rules_dir)
    current_sla = SlaPolicies.load(current_rules_dir)
    transitions = Counter(f"{a}->{b}" for a, b in zip(current, changed, strict=True) if a != b)
    return {
        "n": len(records),
        "configuration": {
            "rules_dir": str(rules_dir) if rules_dir else None,
            "model": model.version if model is not None else None,
        },
        "current_configuration": {
            "rules_dir": str(current_rules_dir) if current_rules_dir else None,
            "model": current_model.version if current_model is not None else None,
        },
        "severity_mix": {
            "labels": severity_mix(labels),
            "changed": severity_mix(changed),
            "current": severity_mix(current),
        },
        "agreement_with_labels": {
            "changed": classification_report(labels, changed),
            "current": classification_report(labels, current),
        },
        "sla": {
            "changed": {
                "policy_version": changed_sla.version,
                **sla_outcomes(records, changed, changed_sla),
            },
            "current": {
                "policy_version": current_sla.version,
                **sla_outcomes(records, current, current_sla),
            },
        },
        "agreement_with_current": {
            "share": _ratio(
                sum(a == b for a, b in zip(current, changed, strict=True)), len(labels)
            ),
            "changed_tickets": sum(transitions.values()),
            "transitions": dict(sorted(transitions.items())),
        },
    }


def sla_outcomes(
    records: Sequence[Mapping[str, Any]], severities: Sequence[str], policies: SlaPolicies
) -> dict[str, Any]:
    """Deadlines under ``severities`` and, for tickets that carry ``first_response_at`` /
    ``resolved_at``, the share that would have breached each target."""
    with_sla = 0
    target_hours: list[float] = []
    checked = {"first_response": 0, "resolution": 0}
    breached = {"first_response": 0, "resolution": 0}
    reasons: Counter[str] = Counter()
    for record, severity in zip(records, severities, strict=True):
        try:
            created = parse_datetime(record.get("created_at"), "created_at")
            if created is None or not record.get("plan"):
                reasons["no created_at or plan"] += 1
                continue
            result = policies.deadlines(
                str(record["plan"]),
                severity,
                created,
                str(record.get("timezone") or "UTC"),
                record.get("country") or None,
            )
            if not result.applies:
                reasons[result.reason or "no SLA"] += 1
                continue
            assert result.first_response_due is not None and result.resolution_due is not None
            with_sla += 1
            target_hours.append((result.resolution_due - created).total_seconds() / 3600)
            for target, due, field in (
                ("first_response", result.first_response_due, "first_response_at"),
                ("resolution", result.resolution_due, "resolved_at"),
            ):
                done = parse_datetime(record.get(field), field)
                if done is not None:
                    checked[target] += 1
                    breached[target] += done > due
        except (InputError, SlaError) as exc:
            reasons[str(exc)[:80]] += 1
    return {
        "with_sla": with_sla,
        "without_sla": dict(reasons),
        "mean_hours_to_resolution_due": _ratio(sum(target_hours), len(target_hours)),
        "breached": {
            t: {
                "checked": checked[t],
                "breached": breached[t],
                "share": _ratio(breached[t], checked[t]),
            }
            for t in checked
        },
    }


def plot_confusions(systems: Mapping[str, Mapping[str, Any]], path: Path) -> None:
    """One confusion-matrix panel per system, written as a PNG (matplotlib's Agg backend)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    names = list(systems)
    figure = Figure(figsize=(4.2 * max(1, len(names)), 4.0))
    axes = figure.subplots(1, max(1, len(names)), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=False):
        matrix = np.asarray(systems[name]["confusion"])
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(LABELS)), LABELS)
        ax.set_yticks(range(len(LABELS)), LABELS)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true label")
        ax.set_title(f"{name}: macro-F1 {systems[name]['macro_f1']:.3f}")
        high = matrix.max() / 2 if matrix.size else 0
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(
                j,
                i,
                str(value),
                ha="center",
                va="center",
                color="white" if value > high else "black",
            )
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
