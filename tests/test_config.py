"""Broken rules files fail loudly at load, naming file, key and reason, all problems at once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sevtriage.config import load_rules
from sevtriage.errors import ConfigError


@pytest.fixture
def rules_copy(tmp_path: Path, repo: Path) -> Path:
    """A copy without MANIFEST.sha256: these tests edit files and check the schema problems only
    (the manifest check is tested in test_integrity.py)."""
    target = tmp_path / "rules"
    shutil.copytree(repo / "rules", target)
    (target / "MANIFEST.sha256").unlink()
    return target


def _problems(directory: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_rules(directory)
    return [str(p) for p in info.value.problems]


def test_every_problem_is_reported_with_file_and_key(rules_copy: Path) -> None:
    sev = rules_copy / "severity.yaml"
    sev.write_text(sev.read_text().replace("all: [data_loss]", "all: [data_lost]", 1))
    en = rules_copy / "lexicons" / "en.yaml"
    en.write_text(
        en.read_text().replace("      - '\\bwork[- ]?arounds?\\b'", "      - '(unclosed'", 1)
    )
    problems = _problems(rules_copy)
    assert any("severity.yaml" in p and "unknown signal 'data_lost'" in p for p in problems)
    assert any(
        "en.yaml" in p and "signals.workaround.patterns[0]" in p and "bad regular expression" in p
        for p in problems
    )


def test_yaml_syntax_error_names_the_line(rules_copy: Path) -> None:
    (rules_copy / "signals.yaml").write_text("version: 1\nsignals:\n  outage: [unclosed\n")
    problems = _problems(rules_copy)
    assert any("signals.yaml: line" in p and "invalid YAML" in p for p in problems)


def test_unknown_key_is_refused(rules_copy: Path) -> None:
    sev = rules_copy / "severity.yaml"
    sev.write_text(
        sev.read_text().replace("    priority: 10\n", "    priority: 10\n    prio: 3\n", 1)
    )
    assert any("rules.0.prio" in p and "Extra inputs" in p for p in _problems(rules_copy))


def test_duplicate_priority_and_bad_severity_are_refused(rules_copy: Path) -> None:
    sev = rules_copy / "severity.yaml"
    text = sev.read_text().replace("    priority: 12\n", "    priority: 11\n", 1)
    text = text.replace("    severity: P1\n", "    severity: P0\n", 1)
    sev.write_text(text)
    problems = _problems(rules_copy)
    assert any("priority 11 already used" in p for p in problems)
    assert any("rules.0.severity" in p for p in problems)


def test_lexicon_for_unknown_signal_is_refused(rules_copy: Path) -> None:
    es = rules_copy / "lexicons" / "es.yaml"
    es.write_text(es.read_text().replace("  outage:\n", "  caida_total:\n", 1))
    assert any("es.yaml: signals.caida_total: unknown signal" in p for p in _problems(rules_copy))


def test_new_language_is_added_as_a_data_file(rules_copy: Path) -> None:
    """A Portuguese lexicon file is enough for Portuguese tickets to be classified."""
    (rules_copy / "lexicons" / "pt.yaml").write_text(
        "language: pt\nname: Português\n"
        "stopwords: [o, a, os, as, de, que, e, em, um, uma, nao, para, com]\n"
        'negation: {cues: ["nao", nunca, sem], window: 4}\n'
        "signals:\n"
        "  outage:\n"
        "    patterns: ['\\bfora do ar\\b', '\\besta (?:\\w+ )?caid[oa]\\b']\n"
    )
    from sevtriage.triage import Triager

    result = Triager(rules_copy).triage(
        {"id": "pt", "body": "A plataforma está fora do ar e o sistema não responde para a equipe"}
    )
    assert result["language"] == "pt"
    assert result["severity"] == "P1"


def test_missing_rules_directory_is_a_clear_error(tmp_path: Path) -> None:
    problems = _problems(tmp_path)
    assert any("required file is missing" in p for p in problems)


def test_rules_version_changes_with_content(rules_copy: Path) -> None:
    before = load_rules(rules_copy).version
    sev = rules_copy / "severity.yaml"
    sev.write_text(sev.read_text().replace("confidence: 0.9", "confidence: 0.91", 1))
    assert load_rules(rules_copy).version != before


def test_a_fragment_is_written_once_and_used_as_its_name(rules_copy: Path) -> None:
    """A lexicon's fragment is expanded where a pattern says <<name>>: the same matches as the
    regex written out."""
    from sevtriage.signals import extract_signals

    en = rules_copy / "lexicons" / "en.yaml"
    text = en.read_text()
    assert "<<doc>>" in text
    config = load_rules(rules_copy)
    (documentation,) = (
        s for s in config.lexicons["en"].signals if s.name == "documentation_request"
    )
    assert all("<<" not in p.pattern for p in documentation.patterns)
    assert any("knowledge base" in p.pattern for p in documentation.patterns)
    report = extract_signals("", "Do you have a knowledge base article on webhooks?", config)
    assert report.facts["documentation_request"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("<<doc_cue>>\\b[^.!?\\n]{0,50}", "<<doc_kue>>\\b[^.!?\\n]{0,50}", "unknown fragment"),
        ("  det: '", "  det_unused: 'x'\n  det: '", "fragments.det_unused: not used"),
        ("  det: '", "  det: '<<doc>>", "fragments.det: a fragment cannot use another one"),
        ("  det: '", "  det: '(unclosed", "fragments.det: bad regular expression"),
    ],
)
def test_a_broken_fragment_is_refused_at_load(
    rules_copy: Path, old: str, new: str, expected: str
) -> None:
    """An unknown name in a pattern, a fragment nothing uses, one that uses another, a bad
    regex: each refused with the file and key."""
    en = rules_copy / "lexicons" / "en.yaml"
    text = en.read_text()
    assert old in text
    en.write_text(text.replace(old, new, 1))
    problems = _problems(rules_copy)
    assert any("en.yaml" in p and expected in p for p in problems), problems
