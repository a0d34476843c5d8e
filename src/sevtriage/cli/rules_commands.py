"""``sevtriage analyze-rules`` (each rule's coverage, overlap, conflicts, accuracy on labels) and
``sevtriage rules-lock`` (record the rules files' hashes in ``MANIFEST.sha256`` after an edit)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sevtriage.cli.options import rules_dir_option
from sevtriage.errors import ConfigError, ConfigProblem, InputError
from sevtriage.io import read_records
from sevtriage.triage import Triager


@click.command("analyze-rules")
@click.argument("data", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@rules_dir_option
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per rule instead of a table."
)
def analyze_rules(data: Path, rules_dir: Path | None, as_json: bool) -> None:
    """Show how each severity rule behaves on labelled tickets (DATA: JSONL/CSV with a label).

    Columns: fires (tickets), coverage, overlap and conflict (shares of all tickets), decisive
    (share it decides) and accuracy (share of its tickets whose label is the rule's severity).
    """
    from sevtriage.analysis import rule_analysis

    triager = Triager(rules_dir)
    with data.open("rb") as stream:
        records = [
            r for _, r in read_records(stream, "auto", str(data)) if not isinstance(r, InputError)
        ]
    table = rule_analysis(triager, [r for r in records if r.get("label")])
    if as_json:
        sys.stdout.write(table.to_json(orient="records", lines=True) + "\n")
    else:
        click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _schema_problems(rules_dir: Path) -> list[ConfigProblem]:
    """Every problem the loaders find in ``rules_dir`` except differences from the manifest
    (which locking is about to resolve)."""
    from sevtriage.combine import load_policy
    from sevtriage.config import load_rules
    from sevtriage.integrity import ManifestProblem
    from sevtriage.sla import SlaPolicies

    problems: list[ConfigProblem] = []
    for load in (load_rules, load_policy, SlaPolicies.load):
        try:
            load(rules_dir)
        except ConfigError as exc:
            problems.extend(p for p in exc.problems if not isinstance(p, ManifestProblem))
    return problems


@click.command("rules-lock")
@rules_dir_option
def rules_lock(rules_dir: Path | None) -> None:
    """Record the sha256 of every rules file in MANIFEST.sha256, after editing the rules.

    A rules folder with a manifest loads only if every *.yaml file matches it (a truncated or
    half-copied file is refused). The files are validated first: nothing is locked while any
    file has a schema problem (exit 2, every problem listed).
    """
    from sevtriage.config import default_rules_dir
    from sevtriage.integrity import MANIFEST_NAME, write_manifest

    root = rules_dir if rules_dir is not None else default_rules_dir()
    problems = _schema_problems(root)
    if problems:
        raise ConfigError(problems)
    try:
        listed = write_manifest(root)
    except OSError as exc:
        where = str(root / MANIFEST_NAME)
        raise ConfigError([ConfigProblem(where, "", f"cannot write: {exc}")]) from exc
    click.echo(f"sevtriage rules-lock: {root / MANIFEST_NAME}: {len(listed)} files", err=True)
    for name in listed:
        click.echo(f"  {name}", err=True)
