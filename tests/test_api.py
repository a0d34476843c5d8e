"""The Python API (``triage``, ``triage_many``) and the CLI's refusal of an unverifiable model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

import sevtriage


def test_triage_one_ticket_with_the_default_rules_and_model() -> None:
    result = sevtriage.triage({"id": "T-1", "subject": "Inbox down", "body": "Nobody can log in."})
    assert result["severity"] == "P1"
    assert result["versions"]["model"] is not None
    assert result["sla"]["applies"] is False  # no plan on the ticket


def test_triage_many_keeps_order_and_index_and_reports_bad_rows() -> None:
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "body": ["¿Cómo agrego un agente?", None, "The whole platform is down for everyone."],
            "plan": ["business_plus", "pro", None],
        },
        index=[10, 20, 30],
    )
    out = sevtriage.triage_many(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.index) == [10, 20, 30]
    assert out.loc[10, "severity"] == "P4" and out.loc[30, "severity"] == "P1"
    assert out.loc[20, "error"]["field"] == "body"
    as_list = sevtriage.triage_many([{"id": "x", "body": "How do I export contacts?"}, {"id": "y"}])
    assert isinstance(as_list, list) and len(as_list) == 2
    assert as_list[0]["severity"] == "P4" and as_list[1]["error"]["code"] == "missing_field"


def test_classify_refuses_a_tampered_model_with_exit_2(tmp_path: Path, repo: Path) -> None:
    model = tmp_path / "m.joblib"
    shutil.copy(repo / "models" / "default.joblib", model)
    shutil.copy(repo / "models" / "default.card.json", tmp_path / "m.card.json")
    shutil.copy(repo / "models" / "default.linear.zip", tmp_path / "m.linear.zip")
    model.write_bytes(model.read_bytes() + b"\0")
    ticket = json.dumps({"id": "a", "body": "The platform is down."}).encode() + b"\n"
    proc = subprocess.run(
        [sys.executable, "-m", "sevtriage", "classify", "--model", str(model), "-"],
        input=ticket,
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == b""  # never a silent fall back to rules only
    assert b"does not match its card" in proc.stderr and b"Traceback" not in proc.stderr
