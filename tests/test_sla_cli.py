"""The ``sla`` and ``escalations`` commands: JSON out, clean one-line errors, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from sevtriage.cli.sla_commands import escalations, sla

RULES = Path(__file__).resolve().parents[1] / "rules"
MX = ["--timezone", "America/Mexico_City", "--country", "MX"]


def run(command: click.Command, args: list[str]) -> Result:
    return CliRunner().invoke(command, [*args, "--rules-dir", str(RULES)])


def test_sla_prints_the_deadlines_as_json() -> None:
    created = ["--created-at", "2026-11-13T15:00:00-06:00"]
    result = run(sla, ["--plan", "business_plus", "--severity", "P3", *created, *MX])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["applies"] is True
    assert data["first_response_due"] == "2026-11-13T17:00:00-06:00"
    assert data["resolution_due"] == "2026-11-17T15:00:00-06:00"
    assert data["calendars"] == {"first_response": "24x7", "resolution": "business_days"}


def test_sla_for_a_plan_without_policy_prints_no_sla() -> None:
    result = run(
        sla, ["--plan", "free", "--severity", "P1", "--created-at", "2026-11-13T15:00:00Z", *MX]
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout)["reason"] == "no SLA policy for plan 'free'"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--severity", "P3", "--created-at", "13/11/2026", *MX], "--created-at"),
        (["--severity", "P3", "--created-at", "2026-11-13T15:00:00", *MX], "no UTC offset"),
        (["--severity", "P9", "--created-at", "2026-11-13T15:00:00Z", *MX], "severity"),
        (
            ["--severity", "P3", "--created-at", "2026-11-13T15:00:00Z", "--timezone", "Moon/Base"],
            "timezone",
        ),
        (
            ["--severity", "P3", "--created-at", "2026-11-13T15:00:00Z", "--timezone", "UTC"],
            "country",
        ),
    ],
)
def test_sla_bad_input_exits_2_with_one_line_naming_the_field(args: list[str], needle: str) -> None:
    result = run(sla, ["--plan", "business_plus", *args])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert needle in result.stderr and "Traceback" not in result.output
    assert result.stdout == ""


def test_broken_sla_files_exit_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "sla").mkdir()
    args = ["--plan", "pro", "--severity", "P1", "--created-at", "2026-11-13T15:00:00Z", *MX]
    result = CliRunner().invoke(sla, [*args, "--rules-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "calendars.yaml" in result.stderr


def write_events(path: Path, lines: list[dict[str, Any] | str]) -> Path:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


CREATED = {
    "type": "created",
    "at": "2026-11-11T10:00:00-06:00",
    "plan": "business_plus",
    "severity": "P2",
    "timezone": "America/Mexico_City",
    "country": "MX",
}


def test_escalations_prints_new_escalations_as_jsonl(tmp_path: Path) -> None:
    events = write_events(
        tmp_path / "events.jsonl",
        [
            {"ticket_id": "A", **CREATED},
            {"ticket_id": "B", **CREATED},
            {"ticket_id": "B", "type": "first_response_sent", "at": "2026-11-11T10:20:00-06:00"},
        ],
    )
    result = run(escalations, [str(events), "--at", "2026-11-11T11:10:00-06:00"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(x["ticket_id"], x["target"], x["level"]) for x in lines] == [
        ("A", "first_response", 2)
    ]
    assert lines[0]["due"] == "2026-11-11T11:00:00-06:00" and lines[0]["late_by_seconds"] == 600


def test_escalations_already_recorded_in_the_file_are_not_repeated(tmp_path: Path) -> None:
    recorded = {"ticket_id": "A", "type": "escalated", "at": "2026-11-11T11:05:00-06:00"}
    events = write_events(
        tmp_path / "events.jsonl",
        [{"ticket_id": "A", **CREATED}, {**recorded, "target": "first_response", "level": 2}],
    )
    result = run(escalations, [str(events), "--at", "2026-11-11T11:10:00-06:00"])
    assert result.exit_code == 0 and result.stdout == ""


def test_escalations_bad_lines_become_error_records_and_exit_1(tmp_path: Path) -> None:
    events = write_events(
        tmp_path / "events.jsonl",
        [
            {"ticket_id": "A", **CREATED},
            "{not json",
            {"ticket_id": "B", **CREATED, "timezone": "Mars/Base"},
            {"ticket_id": "C", **CREATED},
            {"ticket_id": "C", "type": "resolved", "at": "2026-11-11T09:00:00-06:00"},
            {"ticket_id": "D", **CREATED, "plan": "free"},
        ],
    )
    result = run(escalations, [str(events), "--at", "2026-11-11T11:10:00-06:00"])
    assert result.exit_code == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    errors = {(r["line"], r["error"]["code"], r["error"]["field"]) for r in records if "error" in r}
    assert errors == {
        (2, "invalid_json", None),
        (3, "bad_timezone", "timezone"),
        (5, "events_out_of_order", "at"),
    }
    assert [r["ticket_id"] for r in records if "error" not in r] == ["A"]
    assert "no SLA policy for plan 'free'" in result.stderr


def test_escalations_bad_at_option_is_a_usage_error() -> None:
    result = run(escalations, ["-", "--at", "tomorrow"])
    assert result.exit_code == 2 and "--at" in result.stderr


@pytest.mark.parametrize("command", [sla, escalations])
def test_every_sla_command_has_help_text(command: click.Command) -> None:
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0 and command.help and len(command.help) > 40
    assert "Usage" in result.output
