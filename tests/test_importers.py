"""Importing labelled data: our JSONL, helpdesk CSV/JSON exports with a label mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sevtriage.errors import ConfigError, InputError
from sevtriage.importers import (
    ImportSpec,
    build_mapping,
    import_file,
    load_mapping_file,
    read_labelled,
)

CSV = (
    "ticket,title,description,priority\n"
    "Z-1,Inbox down,Nobody can log in,Urgent\n"
    "Z-2,Export,How do I export?,low\n"
    "Z-3,Slow,The inbox is slow,blocker\n"
    "Z-4,Typo,Tooltip typo, \n"
)


def _spec() -> ImportSpec:
    return ImportSpec(
        label_column="priority",
        mapping=build_mapping(["urgency"]),
        subject_column="title",
        body_column="description",
        id_column="ticket",
    )


def test_csv_export_maps_priorities_and_reports_bad_rows_by_line(tmp_path: Path) -> None:
    path = tmp_path / "zendesk.csv"
    path.write_text(CSV, encoding="utf-8")
    records, errors = import_file(path, _spec())
    assert records == [
        {"id": "Z-1", "subject": "Inbox down", "body": "Nobody can log in", "label": "P1"},
        {"id": "Z-2", "subject": "Export", "body": "How do I export?", "label": "P4"},
    ]
    assert [(e["line"], e["id"], e["error"]["code"]) for e in errors] == [
        (4, "Z-3", "unknown_label"),
        (5, "Z-4", "missing_label"),
    ]
    unknown = errors[0]["error"]
    assert unknown["field"] == "priority"
    assert f"{path}:4" in unknown["message"] and "'blocker'" in unknown["message"]
    assert "--map 'blocker=P<n>'" in unknown["message"]


def test_read_labelled_refuses_bad_rows_naming_file_line_and_value(tmp_path: Path) -> None:
    path = tmp_path / "zendesk.csv"
    path.write_text(CSV, encoding="utf-8")
    with pytest.raises(InputError, match=r"2 bad row\(s\): .*zendesk.csv:4: .*'blocker'"):
        read_labelled([path], _spec())


def test_explicit_pairs_extend_presets_case_insensitively(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(CSV, encoding="utf-8")
    spec = ImportSpec(
        label_column="priority",
        mapping=build_mapping(["urgency"], ["BLOCKER=p1"]),
        subject_column="title",
        body_column="description",
        id_column="ticket",
    )
    records, errors = import_file(path, spec)
    assert [r["label"] for r in records] == ["P1", "P4", "P1"]
    assert len(errors) == 1


def test_bad_mapping_reports_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        build_mapping(["nope"], ["urgent", "high=P7", "low=P4"])
    assert len(info.value.problems) == 3


def test_impact_preset_and_mapping_file(tmp_path: Path) -> None:
    assert build_mapping(["impact"])["major"] == "P2"
    mapping = tmp_path / "map.yaml"
    mapping.write_text("Sev1: P1\nsev2: P2\n", encoding="utf-8")
    assert load_mapping_file(mapping) == {"sev1": "P1", "sev2": "P2"}
    mapping.write_text("- a\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_mapping_file(mapping)


def test_json_array_export_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    rows = [{"id": 1, "subject": "s", "body": "b", "urgency": "critical"}, "oops"]
    path.write_text(json.dumps(rows), encoding="utf-8")
    records, errors = import_file(
        path, ImportSpec(label_column="urgency", mapping=build_mapping(["impact"]))
    )
    assert records == [{"id": "1", "subject": "s", "body": "b", "label": "P1"}]
    assert errors[0]["line"] == 2 and errors[0]["error"]["code"] == "not_an_object"


def test_reviewed_overrides_replace_earlier_records_by_id(tmp_path: Path) -> None:
    base, overrides = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    base.write_text(
        '{"id": "T-1", "subject": "s", "body": "b", "label": "P3", "language": "es"}\n'
        '{"id": "T-2", "subject": "s", "body": "b", "label": "P4"}\n',
        encoding="utf-8",
    )
    overrides.write_text(
        '{"id": "T-1", "subject": "s", "body": "b", "label": "P1"}\n', encoding="utf-8"
    )
    records = read_labelled([base, overrides])
    assert {r["id"]: r["label"] for r in records} == {"T-2": "P4", "T-1": "P1"}
    assert read_labelled([base])[0]["language"] == "es"


def test_sidecar_concepts_become_cv_groups() -> None:
    repo = Path(__file__).resolve().parents[1]
    records = read_labelled([repo / "data" / "train.jsonl"], groups=True)
    assert all(r["group"].startswith("P") for r in records)


def test_empty_input_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="no labelled records"):
        read_labelled([path])
