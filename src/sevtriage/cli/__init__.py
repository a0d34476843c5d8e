"""The ``sevtriage`` command line: thin commands over the Python API.

Exit codes: 0 success; 1 the command ran but some input lines failed (each has an error record in
the output); 2 usage or configuration error (bad option, broken rules file, refused model).

Commands are imported when they run (``_LazyGroup``), so ``sevtriage classify`` does not pay for
scikit-learn, FastAPI or dask unless it needs them.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from sevtriage.errors import SevtriageError

EXIT_OK, EXIT_SOME_FAILED, EXIT_CONFIG = 0, 1, 2

# command name -> "module:attribute"
_COMMANDS: dict[str, str] = {
    "classify": "sevtriage.cli.classify:classify",
    "analyze-rules": "sevtriage.cli.rules_commands:analyze_rules",
    "rules-lock": "sevtriage.cli.rules_commands:rules_lock",
    "sla": "sevtriage.cli.sla_commands:sla",
    "escalations": "sevtriage.cli.sla_commands:escalations",
    "serve": "sevtriage.cli.service_commands:serve",
    "export-reviews": "sevtriage.cli.service_commands:export_reviews",
    "train": "sevtriage.cli.model_commands:train",
    "evaluate": "sevtriage.cli.model_commands:evaluate",
    "compare": "sevtriage.cli.model_commands:compare",
    "promote": "sevtriage.cli.model_commands:promote",
    "backtest": "sevtriage.cli.model_commands:backtest",
    "import-labels": "sevtriage.cli.model_commands:import_labels",
    "export-linear": "sevtriage.cli.model_commands:export_linear",
}


class _LazyGroup(click.Group):
    """Imports each command on first use; turns ``SevtriageError`` into a one-line message and
    exit code 2, never a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SevtriageError as exc:
            click.echo(f"sevtriage: error: {exc}", err=True)
            sys.exit(EXIT_CONFIG)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sevtriage")
def main() -> None:
    """Triage support tickets: severity P1-P4 with reasons, and SLA deadlines."""
