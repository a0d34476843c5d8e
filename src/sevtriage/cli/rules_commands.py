"""``sevtriage analyze-rules``: each rule's coverage, overlap, conflicts, accuracy on labels."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sevtriage.cli.options import rules_dir_option
from sevtriage.errors import InputError
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
