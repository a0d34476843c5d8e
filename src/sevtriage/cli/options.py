"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path

import click

rules_dir_option = click.option(
    "--rules-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Rules folder, with sla/ (default: $SEVTRIAGE_RULES_DIR or the bundled rules/).",
)
