"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path

import click

rules_dir_option = click.option(
    "--rules-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Rules folder, with sla/ (default: $SEVTRIAGE_RULES_DIR or the bundled rules/).",
)

model_option = click.option(
    "--model",
    "model_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="SEVTRIAGE_MODEL",
    show_envvar=True,
    help="Fallback model file (default: models/default.joblib); verified before use.",
)
no_model_option = click.option(
    "--no-model", is_flag=True, help="Rules only: do not load any fallback model."
)
