"""The README's main command on the bundled sample: one line per ticket, and a quality floor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def _classify(
    repo: Path, *extra: str, data: str = "sample-tickets.jsonl"
) -> list[dict[str, object]]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sevtriage",
            "classify",
            str(repo / "data" / data),
            "--now",
            "2026-11-25T12:00:00+00:00",
            *extra,
        ],
        capture_output=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


def _labels(repo: Path, data: str = "sample-tickets.jsonl") -> dict[str, str]:
    lines = (repo / "data" / data).read_text(encoding="utf-8").splitlines()
    return {r["id"]: r["label"] for r in map(json.loads, lines)}


def test_readme_classify_on_the_sample_gives_one_result_per_ticket(repo: Path) -> None:
    results = _classify(repo)
    labels = _labels(repo)
    assert [r["id"] for r in results] == list(labels)
    assert {r["severity"] for r in results} == {"P1", "P2", "P3", "P4"}
    for result in results:
        assert (
            result["versions"]["rules"]
            and result["versions"]["model"]
            and result["versions"]["sla_policy"]
        )
        assert result["sla"]["applies"] is True, result["sla"]
    accuracy = sum(r["severity"] == labels[str(r["id"])] for r in results) / len(results)
    assert accuracy >= 0.7, f"sample accuracy fell to {accuracy:.2f}"


def test_rules_only_on_the_sample_stays_above_its_floor(repo: Path) -> None:
    results = _classify(repo, "--no-model")
    labels = _labels(repo)
    accuracy = sum(r["severity"] == labels[str(r["id"])] for r in results) / len(results)
    assert accuracy >= 0.65, f"rules-only sample accuracy fell to {accuracy:.2f}"


@pytest.mark.parametrize(
    ("data", "floor"),
    [
        # evaluation only (never trained on)
        ("blind-probe-4.jsonl", 0.85),
        ("blind-probe-5.jsonl", 0.85),
        ("blind-probe-6.jsonl", 0.85),
        ("blind-probe-7.jsonl", 0.85),
        ("blind-probe-8.jsonl", 0.85),
        ("blind-probe-9.jsonl", 0.85),
        ("blind-probe-10.jsonl", 0.9),
        ("blind-probe-11.jsonl", 0.9),  # e-mail noise: signatures, disclaimers, threads, logs
        ("blind-probe-12.jsonl", 0.9),  # e-mail threads and forwards
        ("blind-probe-13.jsonl", 0.9),
        # training data of the shipped model: a guard against a broken model or rules
        *((f"blind-probe{n}.jsonl", 0.95) for n in ("", "-2", "-3")),
        *((f"human-{letter}.jsonl", 0.95) for letter in "abcdefghijklmnopqrstuvwxyz"),
    ],
)
def test_tickets_written_blind_from_the_spec_stay_above_their_floor(
    repo: Path, data: str, floor: float
) -> None:
    """Tickets written from the specification by someone who never saw the rules (see
    data/README.md). The fourth to tenth sets are never trained on: with session 9's model and
    rules 0.938, 0.900, 0.875, 0.887, 0.925, 0.900 and 0.963, P1 recall 1.00 but 0.95 on the fifth
    (the seventh to tenth, written blind in session 9, scored 0.812, 0.800, 0.850 and 0.900 with
    the code of its start). The first three sets and human-a to human-z are training data of the
    shipped model (data/README.md gives each set's measures before it was trained on); their
    floors guard against a broken model or rules and no longer measure generalisation."""
    results = _classify(repo, data=data)
    labels = _labels(repo, data)
    assert [r["id"] for r in results] == list(labels)
    accuracy = sum(r["severity"] == labels[str(r["id"])] for r in results) / len(results)
    p1 = [r for r in results if labels[str(r["id"])] == "P1"]
    p1_recall = sum(r["severity"] == "P1" for r in p1) / len(p1)
    assert accuracy >= floor, f"{data} accuracy fell to {accuracy:.2f}"
    assert p1_recall >= 0.9, f"{data} P1 recall fell to {p1_recall:.2f}"
