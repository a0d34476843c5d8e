"""The sevtriage command line, run as a real process where it matters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from sevtriage.cli import main


def _cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "sevtriage", *args],
        input=stdin,
        capture_output=True,
        check=False,
        timeout=120,
    )


def test_classify_stdin_csv_to_stdout_one_line_per_input() -> None:
    data = (
        b"id,body\nA,The whole platform is down for everyone\nB,\nC,How do I create a template?\n"
    )
    proc = _cli("classify", "--no-model", "--format", "csv", "-", stdin=data)
    assert proc.returncode == 1, proc.stderr  # one line failed
    out = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [r.get("severity") for r in out] == ["P1", None, "P4"]
    assert out[1]["error"]["field"] == "body" and out[1]["line"] == 3
    assert b"Traceback" not in proc.stderr
    assert b"3 lines in, 3 out" in proc.stderr and b"errors=1" in proc.stderr


def test_classify_file_all_good_exits_zero(tmp_path: Path) -> None:
    src = tmp_path / "t.jsonl"
    src.write_text(
        json.dumps({"id": "x", "body": "Nuestros mensajes llegan con 2 horas de retraso."}) + "\n"
    )
    out = tmp_path / "out.jsonl"
    proc = _cli("classify", "--no-model", str(src), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["severity"] == "P2"


def test_broken_rules_dir_is_a_clean_error_exit_2(tmp_path: Path, repo: Path) -> None:
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(repo / "rules", rules)
    (rules / "severity.yaml").write_text("version: 1\nrules: nope\n")
    proc = _cli("classify", "--rules-dir", str(rules), "-", stdin=b'{"id":"a","body":"b"}\n')
    assert proc.returncode == 2
    assert b"Traceback" not in proc.stderr
    assert b"severity.yaml" in proc.stderr


def test_missing_input_file_is_a_clean_error() -> None:
    proc = _cli("classify", "/nonexistent/tickets.jsonl")
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr


def test_every_command_has_help_text() -> None:
    runner = CliRunner()
    ctx = click.Context(main)
    names = main.list_commands(ctx)
    assert {"classify", "sla", "escalations", "serve", "train", "evaluate", "promote"} <= set(names)
    for name in names:
        command = main.get_command(ctx, name)
        assert command is not None and command.help and len(command.help) > 20, name
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
