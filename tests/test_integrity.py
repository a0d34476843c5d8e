"""Refusing damaged rules and model files at load, with an error naming the file and the fix.

Rules: ``rules/MANIFEST.sha256`` lists every rules file's sha256; a truncated, edited-but-not-
locked, missing or extra file is refused (``sevtriage rules-lock`` records an intended edit).
Model: the file's size and sha256 must be its card's before a byte of it is unpickled.
"""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import pytest
from click.testing import CliRunner

from sevtriage.cli import main
from sevtriage.config import load_rules
from sevtriage.errors import ConfigError, ModelError
from sevtriage.importers import read_labelled
from sevtriage.integrity import (
    MANIFEST_NAME,
    ManifestProblem,
    manifest_text,
    rules_files,
    verify_rules_dir,
)
from sevtriage.model import SeverityModel, card_path, save_model, train_model
from sevtriage.modelfile import ServedModel, linear_path
from sevtriage.sla import SlaPolicies
from sevtriage.triage import Triager, load_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A copy of the shipped rules, manifest included."""
    target = tmp_path / "rules"
    shutil.copytree(REPO / "rules", target)
    return target


def _problems(loader: Any, directory: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        loader(directory)
    return [str(p) for p in caught.value.problems]


def _lock(rules_dir: Path) -> Any:
    return CliRunner().invoke(main, ["rules-lock", "--rules-dir", str(rules_dir)])


# --- rules ---------------------------------------------------------------------------------------


def test_shipped_rules_have_a_manifest_that_matches_every_file() -> None:
    """The bundled rules folder must carry a manifest, current with every rules file (run
    `sevtriage rules-lock` after editing rules/ if this fails)."""
    manifest = REPO / "rules" / MANIFEST_NAME
    assert manifest.is_file()
    assert verify_rules_dir(REPO / "rules") == []
    assert manifest.read_text(encoding="utf-8") == manifest_text(REPO / "rules")
    listed = [line.split("  ", 1)[1] for line in manifest.read_text().splitlines()]
    assert listed == rules_files(REPO / "rules")
    assert {"severity.yaml", "signals.yaml", "combination.yaml", "sla/policies.yaml"} <= set(listed)


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs coreutils' sha256sum")
def test_manifest_is_checkable_with_sha256sum() -> None:
    """The format is sha256sum's, so `cd rules && sha256sum -c MANIFEST.sha256` works too."""
    proc = subprocess.run(
        ["sha256sum", "--strict", "-c", MANIFEST_NAME],
        cwd=REPO / "rules",
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_truncated_rules_file_that_is_still_valid_yaml_is_refused(rules: Path) -> None:
    """The case the schemas cannot see: severity.yaml cut before its last rule is valid and
    loads with one rule fewer; the manifest refuses it, naming the file and the fix."""
    severity = rules / "severity.yaml"
    text = severity.read_text(encoding="utf-8")
    severity.write_text(text[: text.rindex("\n  - id:") + 1], encoding="utf-8")
    copy_without_manifest = rules.parent / "unlocked"
    shutil.copytree(rules, copy_without_manifest)
    (copy_without_manifest / MANIFEST_NAME).unlink()
    full = len(load_rules(REPO / "rules").severity.rules)
    assert len(load_rules(copy_without_manifest).severity.rules) == full - 1  # silently fewer
    problems = _problems(load_rules, rules)
    assert len(problems) == 1
    assert "severity.yaml" in problems[0] and "does not match MANIFEST.sha256" in problems[0]
    assert "changed or truncated" in problems[0] and "sevtriage rules-lock" in problems[0]


def test_missing_extra_and_edited_files_are_all_reported_at_once(rules: Path) -> None:
    (rules / "lexicons" / "es.yaml").unlink()
    (rules / "lexicons" / "pt.yaml").write_text("language: pt\n")
    policies = rules / "sla" / "policies.yaml"
    policies.write_text(policies.read_text() + "\n# edited\n")
    with pytest.raises(ConfigError) as caught:
        load_rules(rules)
    manifest = {(Path(p.file).name, p.message.split(";")[0]) for p in caught.value.problems
                if isinstance(p, ManifestProblem)}  # fmt: skip
    assert ("es.yaml", "listed in MANIFEST.sha256 but missing") in manifest
    assert ("pt.yaml", "not listed in MANIFEST.sha256") in manifest
    assert any(name == "policies.yaml" and "does not match" in m for name, m in manifest)
    # ... and the schema problems of the new file too, in the same error.
    assert any("pt.yaml" in str(p) and not isinstance(p, ManifestProblem)
               for p in caught.value.problems)  # fmt: skip


def test_sla_loading_checks_the_manifest_too(rules: Path) -> None:
    calendars = rules / "sla" / "calendars.yaml"
    calendars.write_text(calendars.read_text()[:-40])
    problems = _problems(SlaPolicies.load, rules)
    assert any("calendars.yaml" in p and "rules-lock" in p for p in problems)


def test_malformed_manifest_lines_are_reported_with_their_line(rules: Path) -> None:
    manifest = rules / MANIFEST_NAME
    lines = manifest.read_text().splitlines()
    lines[1] = "not a hash  lexicons/en.yaml"
    lines.append(f"{'0' * 64}  ../outside.yaml")
    manifest.write_text("\n".join(lines) + "\n")
    problems = _problems(load_rules, rules)
    assert any(f"{MANIFEST_NAME}: line 2: expected" in p for p in problems)
    outside = f"{MANIFEST_NAME}: line {len(lines)}: '../outside.yaml' is not inside"
    assert any(outside in p for p in problems)
    assert any("en.yaml" in p and "not listed" in p for p in problems)


def test_folder_without_manifest_loads_with_the_schema_checks_only(rules: Path) -> None:
    (rules / MANIFEST_NAME).unlink()
    severity = rules / "severity.yaml"
    severity.write_text(severity.read_text().replace("confidence: 0.9", "confidence: 0.91", 1))
    assert verify_rules_dir(rules) == []
    assert load_rules(rules).version != load_rules(REPO / "rules").version


def test_rules_lock_records_an_edit_then_it_loads(rules: Path) -> None:
    severity = rules / "severity.yaml"
    severity.write_text(severity.read_text().replace("confidence: 0.9", "confidence: 0.91", 1))
    assert any("severity.yaml" in p for p in _problems(load_rules, rules))
    result = _lock(rules)
    assert result.exit_code == 0, result.output
    assert f"{len(rules_files(rules))} files" in result.output
    assert "severity.yaml" in result.output
    assert verify_rules_dir(rules) == []
    edited = Triager(rules)  # rules, combination and SLA all load
    assert edited.versions["rules"] != load_rules(REPO / "rules").version


def test_rules_lock_refuses_to_lock_a_broken_file(rules: Path) -> None:
    """Locking is not a way around the schemas: a broken file is listed and nothing is written."""
    before = (rules / MANIFEST_NAME).read_bytes()
    (rules / "severity.yaml").write_text("version: 1\nrules: nope\n")
    (rules / "sla" / "policies.yaml").write_text("version: 1\n")
    result = _lock(rules)
    assert result.exit_code == 2
    assert "severity.yaml" in result.output and "policies.yaml" in result.output
    assert "MANIFEST" not in result.output  # the manifest mismatch is not the problem shown
    assert (rules / MANIFEST_NAME).read_bytes() == before


def test_rules_lock_creates_a_manifest_where_there_was_none(rules: Path) -> None:
    (rules / MANIFEST_NAME).unlink()
    assert _lock(rules).exit_code == 0
    assert (rules / MANIFEST_NAME).read_text() == (REPO / "rules" / MANIFEST_NAME).read_text()


def test_classify_with_an_unlocked_rules_edit_exits_2_with_a_clean_message(rules: Path) -> None:
    severity = rules / "severity.yaml"
    severity.write_text(severity.read_text().replace("priority: 10", "priority: 10 ", 1) + "\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sevtriage",
            "classify",
            "--no-model",
            "--rules-dir",
            str(rules),
            "-",
        ],
        input=b'{"id": "a", "body": "The inbox is down"}\n',
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 2
    assert b"Traceback" not in proc.stderr
    assert b"severity.yaml" in proc.stderr and b"sevtriage rules-lock" in proc.stderr


# --- model ---------------------------------------------------------------------------------------


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A copy of the shipped model and its card."""
    path = tmp_path / "m.joblib"
    shutil.copyfile(REPO / "models" / "default.joblib", path)
    shutil.copyfile(REPO / "models" / "default.card.json", card_path(path))
    shutil.copyfile(REPO / "models" / "default.linear.zip", linear_path(path))
    return path


@pytest.fixture
def never_unpickle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything reaches joblib.load: refusals must come before unpickling."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("joblib.load reached: the file was not refused before unpickling")

    monkeypatch.setattr(joblib, "load", refuse)


def _card(path: Path) -> dict[str, Any]:
    card: dict[str, Any] = json.loads(card_path(path).read_text())
    return card


def _refused(path: Path, match: str) -> None:
    with pytest.raises(ModelError, match=match) as caught:
        load_model(path)
    named = (str(path), str(card_path(path)), str(linear_path(path)))
    assert any(name in str(caught.value) for name in named)


def test_truncated_model_is_refused_before_unpickling(model: Path, never_unpickle: None) -> None:
    data = model.read_bytes()
    model.write_bytes(data[: len(data) // 2])
    _refused(model, r"size .* does not match its card .*truncated")


def test_corrupt_model_same_size_is_refused_before_unpickling(
    model: Path, never_unpickle: None
) -> None:
    data = bytearray(model.read_bytes())
    for offset in (100, len(data) // 2, len(data) - 10):
        data[offset] ^= 0xFF
    model.write_bytes(bytes(data))
    _refused(model, "sha256 .* does not match its card")


def test_card_whose_hash_does_not_match_is_refused(model: Path, never_unpickle: None) -> None:
    card = _card(model)
    card["sha256"] = "0" * 64
    card_path(model).write_text(json.dumps(card))
    _refused(model, "does not match its card")


def test_card_without_a_hash_is_refused(model: Path, never_unpickle: None) -> None:
    card = _card(model)
    del card["sha256"]
    card_path(model).write_text(json.dumps(card))
    _refused(model, "the card has no sha256")


def test_missing_card_or_file_is_refused(model: Path, never_unpickle: None) -> None:
    card = card_path(model).read_bytes()
    card_path(model).unlink()
    _refused(model, "model card not found")
    card_path(model).write_bytes(card)
    model.unlink()
    _refused(model, "model file not found")


def test_card_of_another_model_is_refused(model: Path, tmp_path: Path) -> None:
    """Two valid models, cards swapped: each file is refused under the other's card."""
    records = read_labelled([REPO / "data" / "train.jsonl"])[:300]
    pipeline, card = train_model(records, seed=1, folds=0)
    other = save_model(pipeline, card, tmp_path / "other.joblib")
    shutil.copyfile(card_path(tmp_path / "other.joblib"), card_path(model))
    assert other.version != SeverityModel.load(REPO / "models" / "default.joblib").version
    _refused(model, "does not match its card")


def test_a_joblib_file_that_runs_code_is_never_unpickled_without_a_matching_card(
    model: Path, tmp_path: Path
) -> None:
    """A joblib file is code: a hostile file beside a real card is refused unopened."""
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[Any, tuple[str, str]]:
            return (open, (str(marker), "w"))

    model.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ModelError, match="does not match its card"):
        load_model(model)
    assert not marker.exists()


def test_matching_card_but_unloadable_bytes_is_a_clean_model_error(model: Path) -> None:
    """If the card was rewritten to match a broken file, unpickling fails as a ModelError."""
    import hashlib

    broken = model.read_bytes()[:1000]
    model.write_bytes(broken)
    card = _card(model) | {"sha256": hashlib.sha256(broken).hexdigest(), "size_bytes": 1000}
    card_path(model).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="cannot be loaded"):
        SeverityModel.load(model)  # the pipeline is unpickled only off the serving path


# --- the data form the service and classify load (no unpickling) ----------------------------------


def test_the_served_model_needs_every_file_of_its_card(model: Path, never_unpickle: None) -> None:
    served = load_model(model)
    assert isinstance(served, ServedModel)  # and joblib.load was never reached
    linear_path(model).unlink()
    _refused(model, "model file not found")


def test_a_changed_pipeline_file_is_refused_even_when_serving_the_data_form(
    model: Path, never_unpickle: None
) -> None:
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    _refused(model, "sha256 .* does not match its card")


def test_a_truncated_or_corrupt_data_form_is_refused(model: Path, never_unpickle: None) -> None:
    data = linear_path(model).read_bytes()
    linear_path(model).write_bytes(data[: len(data) // 2])
    _refused(model, r"size .* does not match its card .*truncated")
    corrupt = bytearray(data)
    corrupt[len(corrupt) // 3] ^= 0xFF
    linear_path(model).write_bytes(bytes(corrupt))
    _refused(model, "sha256 .* does not match its card")


def test_a_data_form_matching_a_rewritten_card_but_broken_is_a_clean_model_error(
    model: Path, never_unpickle: None
) -> None:
    import hashlib

    broken = linear_path(model).read_bytes()[:1000]
    linear_path(model).write_bytes(broken)
    card = _card(model)
    card["linear"] = {"sha256": hashlib.sha256(broken).hexdigest(), "size_bytes": 1000}
    card_path(model).write_text(json.dumps(card))
    _refused(model, "cannot be loaded: not a saved linear model")


def test_a_model_without_a_data_form_is_served_through_its_pipeline(model: Path) -> None:
    card = _card(model)
    del card["linear"]
    card_path(model).write_text(json.dumps(card))
    linear_path(model).unlink()
    served = load_model(model)
    assert isinstance(served, SeverityModel)
    assert served.version == _card(model)["version"]


def test_classify_with_a_truncated_model_exits_2_with_a_clean_message(model: Path) -> None:
    model.write_bytes(model.read_bytes()[:5000])
    proc = subprocess.run(
        [sys.executable, "-m", "sevtriage", "classify", "--model", str(model), "-"],
        input=b'{"id": "a", "body": "The inbox is down"}\n',
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 2
    assert b"Traceback" not in proc.stderr and b"does not match its card" in proc.stderr
