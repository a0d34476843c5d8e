"""``sevtriage serve`` (the HTTP service) and ``sevtriage export-reviews`` (reviews as training
data). The database is ``$SEVTRIAGE_DATABASE_URL`` (default: ``sevtriage.db`` here)."""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from sevtriage.cli.options import no_model_option

if TYPE_CHECKING:
    from sevtriage.service.workers import ReloadChannel

# How ``serve`` passes its options to worker processes (``--workers``), which build their own app.
# The store, the service and the rules are imported where they are used: the supervising process
# of ``--workers`` imports none of them (71 -> 47 MB).
_WORKER_ENV = "SEVTRIAGE_SERVE_WORKER"


class ThreadLimit:
    """ASGI wrapper: at start-up, sets how many requests may run their (synchronous) handlers at
    once in the threadpool (anyio's default is 40). Triage is CPU work under the GIL, so dozens of
    threads only take turns at it: each request gets slower and the queue does not get shorter.
    A few threads keep one request's database wait overlapped with another's triage."""

    def __init__(self, app: Any, threads: int) -> None:
        self.app = app
        self.threads = threads

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            import anyio.to_thread

            anyio.to_thread.current_default_thread_limiter().total_tokens = self.threads
        await self.app(scope, receive, send)


def build_app(no_model: bool, threads: int, channel: ReloadChannel | None = None) -> ThreadLimit:
    """The service as ``serve`` runs it: rules, model and settings are loaded (and validated)
    here, before the port is taken. ``channel``: the workers' reload channel (``--workers``)."""
    from sevtriage.service.app import create_app, triager_loader
    from sevtriage.service.settings import Settings

    settings = Settings.from_env()
    loader = triager_loader(settings, model=not no_model)
    return ThreadLimit(create_app(settings, loader=loader, channel=channel), threads)


def worker_app() -> ThreadLimit:
    """The app factory of each ``--workers`` process (``serve``'s options and the reload
    channel, in the environment)."""
    from sevtriage.service.workers import ReloadChannel

    no_model, threads = os.environ[_WORKER_ENV].split(",")
    return build_app(no_model == "1", int(threads), ReloadChannel.from_env())


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
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log every request at info level (costs CPU per request; off for high rates).",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes. Each loads the rules and model (memory per process); SQLite is shared "
    "safely (WAL, writers queue).",
)
@click.option(
    "--threads",
    default=8,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Requests handled at once per process (the rest wait their turn, in order).",
)
@no_model_option
def serve(
    host: str,
    port: int,
    log_level: str,
    access_log: bool,
    workers: int,
    threads: int,
    no_model: bool,
) -> None:
    """Run the HTTP API and the review page (OpenAPI docs at /docs).

    Writes need a bearer token from SEVTRIAGE_API_TOKENS="name:token,...". The rules, model and
    SLA policies are loaded once at start (by each worker); the database schema is migrated at
    start. A reload (POST /v1/admin/reload, or SIGHUP to this process) reaches every worker.
    """
    import uvicorn

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": access_log,
        "proxy_headers": False,
    }
    if workers == 1:
        uvicorn.run(build_app(no_model, threads), **options)
        return
    # Several processes: each builds its own app from the factory. The rules and model are
    # checked here first, in a child process, so a refused file is a clean error (exit 2) before
    # the port is taken, and this supervising process stays small.
    # A reload in one worker reaches the others through a channel this process owns; SIGHUP
    # here reloads the workers in place instead of replacing them (``service.workers``).
    _check_loads(no_model)
    from sevtriage.service.workers import CHANNEL_ENV, ReloadChannel, run_supervised

    os.environ[_WORKER_ENV] = f"{int(no_model)},{threads}"
    with ReloadChannel.created() as channel:
        os.environ[CHANNEL_ENV] = str(channel.path)
        app = "sevtriage.cli.service_commands:worker_app"
        run_supervised(uvicorn.Config(app, factory=True, workers=workers, **options), channel)


def _check_loads(no_model: bool) -> None:
    import subprocess

    command = [
        sys.executable,
        "-c",
        "import sys; from sevtriage.cli.service_commands import _check_child; "
        "_check_child(sys.argv[1] == '1')",
        "1" if no_model else "0",
    ]
    result = subprocess.run(command, check=False, capture_output=True, text=True)
    if result.returncode != 0:
        message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
        click.echo(message or "sevtriage: error: the service could not start", err=True)
        sys.exit(result.returncode if result.returncode == 2 else 2)


def _check_child(no_model: bool) -> None:
    """In a child process: build the app once (loads and verifies rules, model and settings)."""
    from sevtriage.errors import SevtriageError

    try:
        build_app(no_model, 1)
    except SevtriageError as exc:
        click.echo(f"sevtriage: error: {exc}", err=True)
        sys.exit(2)


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
    from sevtriage.io import dump_line
    from sevtriage.store import Store, database_url
    from sevtriage.store.export import reviewed_examples

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
