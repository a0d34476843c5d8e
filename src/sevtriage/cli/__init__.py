"""The ``sevtriage`` command line: thin commands over the Python API.

Exit codes: 0 success; 1 the command ran but some input lines failed (each has an error record in
the output); 2 usage or configuration error (bad option, broken rules file, refused model).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from sevtriage.cli.classify import classify
from sevtriage.cli.rules_commands import analyze_rules
from sevtriage.cli.service_commands import export_reviews, serve
from sevtriage.cli.sla_commands import escalations, sla
from sevtriage.errors import SevtriageError

EXIT_OK, EXIT_SOME_FAILED, EXIT_CONFIG = 0, 1, 2


class _Group(click.Group):
    """Turns any ``SevtriageError`` into a one-line message and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SevtriageError as exc:
            click.echo(f"sevtriage: error: {exc}", err=True)
            sys.exit(EXIT_CONFIG)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sevtriage")
def main() -> None:
    """Triage support tickets: severity P1-P4 with reasons, and SLA deadlines."""


main.add_command(classify)
main.add_command(analyze_rules)
main.add_command(sla)
main.add_command(escalations)
main.add_command(serve)
main.add_command(export_reviews)
