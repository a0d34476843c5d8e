"""The model commands through click: help text, train, evaluate, compare, promote, backtest."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sevtriage.cli import main as cli
from sevtriage.cli.model_commands import COMMANDS
from sevtriage.model import SeverityModel, card_path
from sevtriage.modelfile import ServedModel, linear_path
from sevtriage.triage import load_model

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: str(c.name))
def test_every_command_and_option_has_help(command: click.Command) -> None:
    assert command.help and command.help.strip()
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{command.name} {param.opts} has no help"
    code, out, _ = _run(str(command.name), "--help")
    assert code == 0 and "Usage:" in out


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cli")
    train = (REPO / "data" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    test = (REPO / "data" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    paths = {
        "train": folder / "train.jsonl",
        "tiny": folder / "tiny.jsonl",
        "test": folder / "test.jsonl",
    }
    paths["train"].write_text("\n".join(train[:500]) + "\n", encoding="utf-8")
    paths["tiny"].write_text("\n".join(train[:60]) + "\n", encoding="utf-8")
    paths["test"].write_text("\n".join(test[:100]) + "\n", encoding="utf-8")
    for name in ("good", "weak"):
        source = paths["train"] if name == "good" else paths["tiny"]
        code, out, err = _run(
            "train",
            source,
            "--out",
            folder / f"{name}.joblib",
            "--folds",
            "2",
            "--holdout",
            paths["test"],
            "--quiet",
        )
        assert code == 0, err
        assert "wrote" in out
        paths[name] = folder / f"{name}.joblib"
    return paths


def test_train_writes_model_and_card_with_heldout_metrics(data: dict[str, Path]) -> None:
    card = json.loads(card_path(data["good"]).read_text())
    assert set(card["held_out"]["metrics"]) == {"rules", "model", "combined"}
    assert card["held_out"]["size"] == 100
    assert card["validation"]["method"].startswith("2-fold")


def test_train_refuses_unknown_labels_with_a_clean_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,subject,body,priority\n1,a,b,blocker\n", encoding="utf-8")
    code, _, err = _run(
        "train",
        bad,
        "--label-column",
        "priority",
        "--preset",
        "urgency",
        "--out",
        tmp_path / "m.joblib",
        "--no-holdout",
        "--quiet",
    )
    assert code == 2
    assert err.startswith("sevtriage: error:") and "bad.csv:2" in err and "'blocker'" in err


def test_evaluate_prints_table_json_and_plot(data: dict[str, Path], tmp_path: Path) -> None:
    code, out, _ = _run("evaluate", data["test"], "--model", data["good"])
    assert code == 0 and "macro_f1" in out and "confusion [combined]" in out
    code, out, _ = _run(
        "evaluate", data["test"], "--model", data["good"], "--json", "--plot", tmp_path / "c.png"
    )
    report = json.loads(out)
    assert list(report["systems"]) == ["rules", "model", "combined"]
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluate_with_tampered_model_fails_cleanly(data: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.joblib"
    bad.write_bytes(data["good"].read_bytes() + b"x")
    card_path(bad).write_text(card_path(data["good"]).read_text())
    code, _, err = _run("evaluate", data["test"], "--model", bad)
    assert code == 2 and "does not match its card" in err and "Traceback" not in err


def test_compare_lists_changed_tickets(data: dict[str, Path]) -> None:
    code, out, _ = _run(
        "compare", data["test"], "--candidate", data["weak"], "--baseline", data["good"], "--json"
    )
    report = json.loads(out)
    assert code == 0 and report["changes"]
    assert set(report["changes"][0]) == {"id", "label", "baseline", "candidate"}
    assert "candidate:combined" in report["systems"] and report["gate_problems"]


def test_promote_refuses_a_worse_model_unless_forced_with_a_reason(
    data: dict[str, Path], tmp_path: Path
) -> None:
    target = tmp_path / "default.joblib"
    code, out, _ = _run("promote", data["good"], "--data", data["test"], "--target", target)
    assert code == 0 and target.read_bytes() == data["good"].read_bytes()
    code, _, err = _run("promote", data["weak"], "--data", data["test"], "--target", target)
    assert code == 1 and "not promoted" in err
    assert target.read_bytes() == data["good"].read_bytes()
    code, _, err = _run(
        "promote", data["weak"], "--data", data["test"], "--target", target, "--force"
    )
    assert code == 2 and "--reason" in err
    code, out, _ = _run(
        "promote",
        data["weak"],
        "--data",
        data["test"],
        "--target",
        target,
        "--force",
        "--reason",
        "hotfix for a new product line",
    )
    assert code == 0 and "forced" in out
    history = json.loads(card_path(target).read_text())["history"]
    assert (
        history[-1]["forced"] is True and history[-1]["reason"] == "hotfix for a new product line"
    )
    assert history[-1]["gate_problems"]
    assert target.read_bytes() == data["weak"].read_bytes()
    # the data form travels with the model: the service loads the promoted one, unpickling nothing
    assert linear_path(target).read_bytes() == linear_path(data["weak"]).read_bytes()
    served = load_model(target)
    assert isinstance(served, ServedModel)
    assert served.version == json.loads(card_path(data["weak"]).read_text())["version"]


def test_export_linear_gives_an_older_model_its_data_form(
    data: dict[str, Path], tmp_path: Path
) -> None:
    """A model saved before data forms (card without 'linear') is served through its pipeline;
    export-linear adds the data form and the same answers come back without unpickling."""
    model = tmp_path / "old.joblib"
    model.write_bytes(data["good"].read_bytes())
    card = json.loads(card_path(data["good"]).read_text())
    del card["linear"]
    card_path(model).write_text(json.dumps(card))
    before = load_model(model)
    assert isinstance(before, SeverityModel)
    code, out, _ = _run("export-linear", model)
    assert code == 0 and "old.linear.zip" in out
    after = load_model(model)
    assert isinstance(after, ServedModel) and after.version == before.version
    texts = ["The inbox is down for everyone", "¿Cómo exporto los contactos?"]
    assert after.predict_with_terms(texts)[1] == before.predict_with_terms(texts)[1]
    assert abs(after.predict_proba(texts) - before.predict_proba(texts)).max() < 1e-6


def test_backtest_reports_mix_and_agreement(data: dict[str, Path]) -> None:
    code, out, _ = _run(
        "backtest",
        data["test"],
        "--rules",
        REPO / "rules",
        "--model",
        data["weak"],
        "--current-model",
        data["good"],
        "--json",
    )
    report = json.loads(out)
    assert code == 0
    assert {"severity_mix", "agreement_with_labels", "agreement_with_current"} <= set(report)
    code, out, _ = _run(
        "backtest", data["test"], "--model", data["weak"], "--current-model", data["good"]
    )
    assert code == 0 and "agreement with current" in out


def test_import_labels_writes_jsonl_and_error_records(tmp_path: Path) -> None:
    src = tmp_path / "export.csv"
    src.write_text("id,subject,body,severity\n1,a,b,Critical\n2,c,d,meh\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code, _, err = _run(
        "import-labels", src, "-o", out, "--label-column", "severity", "--preset", "impact"
    )
    assert code == 1
    assert json.loads(out.read_text()) == {"id": "1", "subject": "a", "body": "b", "label": "P1"}
    error = json.loads(err.splitlines()[0])
    assert error["line"] == 3 and "'meh'" in error["error"]["message"]


def test_cards_record_paths_inside_the_project_relative_to_it(tmp_path: Path) -> None:
    """The promotion history and the held-out section name project files as data/test.jsonl,
    whether given absolute or relative, and any other path as given."""
    from sevtriage.cli.model_commands import REPO as PROJECT
    from sevtriage.cli.model_commands import _shown

    assert _shown(PROJECT / "data" / "test.jsonl") == "data/test.jsonl"
    outside = tmp_path / "held.jsonl"
    assert _shown(outside) == str(outside)
