"""``sevtriage serve`` (the HTTP service) and ``sevtriage export-reviews`` (reviews as training
data). The database is ``$SEVTRIAGE_DATABASE_URL`` (default: ``sevtriage.db`` here)."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import IO

import click

from sevtriage.cli.options import no_model_option
from sevtriage.io import dump_line
from sevtriage.store import Store, database_url
from sevtriage.store.export import reviewed_examples


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    help="uvicorn's log level.",
)
@no_model_option
def serve(host: str, port: int, log_level: str, no_model: bool) -> None:
    """Run the HTTP API and the review page (OpenAPI docs at /docs).

    Writes need a bearer token from SEVTRIAGE_API_TOKENS="name:token,...". The rules, model and
    SLA policies are loaded once at start; the database schema is migrated at start.
    """
    import uvicorn

    from sevtriage.service.app import create_app
    from sevtriage.triage import Triager

    # Settings, rules and model are read (and validated) now, before the port is taken.
    app = create_app(triager=Triager() if no_model else None)
    uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=False)


@click.command("export-reviews")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write here instead of standard output.",
)
@click.option("--overrides-only", is_flag=True, help="Only tickets whose severity was overridden.")
@click.option(
    "--database-url",
    "url",
    help="Database to read (default: $SEVTRIAGE_DATABASE_URL or sqlite:///sevtriage.db).",
)
def export_reviews(output: Path | None, overrides_only: bool, url: str | None) -> None:
    """Write the reviewed tickets as training data: JSONL with id, subject, body, language,
    label (the agent's severity) and the review's metadata, like data/*.jsonl."""
    store = Store.open(url or database_url())
    count = 0
    try:
        stream: IO[str]
        with output.open("w", encoding="utf-8") if output else nullcontext(sys.stdout) as stream:
            for item in reviewed_examples(store, overrides_only):
                stream.write(dump_line(item))
                count += 1
    finally:
        store.close()
    click.echo(f"sevtriage export-reviews: {count} reviewed tickets", err=True)
