"""A real uvicorn server on 127.0.0.1 (a free port, in a thread) over a real database: a SQLite
file per test, or a fresh PostgreSQL schema per test when ``SEVTRIAGE_TEST_DATABASE_URL`` is set.
Time is an injected clock the tests move by hand."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sevtriage.service.app import create_app
from sevtriage.service.settings import Settings
from sevtriage.triage import Triager

PG_ENV = "SEVTRIAGE_TEST_DATABASE_URL"
TOKENS = {"tok-agent-ana-123": "ana", "tok-intake-bot-456": "intake-bot"}
AGENT = {"Authorization": "Bearer tok-agent-ana-123"}
BOT = {"Authorization": "Bearer tok-intake-bot-456"}


def spanish_p1_ticket(ticket_id: str, **fields: Any) -> dict[str, Any]:
    """A Business+ ticket (Mexico City) whose body the rules read as P1, with ``fields`` over it."""
    return {
        "id": ticket_id,
        "subject": "La bandeja no carga",
        "body": "Nadie del equipo puede entrar desde las 9:00. No hay alternativa.",
        "plan": "business_plus",
        "timezone": "America/Mexico_City",
        "country": "MX",
        **fields,
    }


@dataclass
class Clock:
    """The service's clock: an aware instant the test moves forward."""

    now: datetime = field(default_factory=lambda: datetime(2025, 3, 3, 15, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def set(self, value: datetime) -> None:
        self.now = value

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Server:
    url: str
    clock: Clock
    database_url: str
    client: httpx.Client


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free port of 127.0.0.1 in a thread; yield its base URL."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it every keep-alive request waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start (see the log above)")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sevtriage.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(
            f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    schema = f"sevtriage_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def serve(database_url: str, clock: Clock, triager: Triager) -> Iterator[Callable[..., Server]]:
    """Start the service (rules-only triager, the repository's SLA policies) on demand."""
    stack: list[Any] = []

    def start(**settings: Any) -> Server:
        config = Settings(database_url=database_url, tokens=dict(TOKENS), **settings)
        app = create_app(config, now=clock, triager=triager)
        context = running(app)
        url = context.__enter__()
        client = httpx.Client(base_url=url, timeout=60)
        stack.append((context, client))
        return Server(url, clock, database_url, client)

    yield start
    for context, client in reversed(stack):
        client.close()
        context.__exit__(None, None, None)


@pytest.fixture
def server(serve: Callable[..., Server]) -> Server:
    return serve()
