"""The service killed with SIGKILL while clients post batches: restarted on the same database,
the clients re-send what was not acknowledged (and some of what was); every ticket is stored
exactly once with one intake decision, and re-sent acknowledged tickets answer ``unchanged``.

The real ``sevtriage serve`` process, a real SQLite file or PostgreSQL schema, real HTTP.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, func, select

from sevtriage.store.schema import decisions, tickets

REPO = Path(__file__).resolve().parents[2]
TOKEN = "benchtoken123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TICKETS, BATCH, CLIENTS, BIG = 1600, 25, 3, 400


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _service(database_url: str, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``sevtriage serve`` on a free port of 127.0.0.1, ready (``/healthz`` answers)."""
    port = _free_port()
    env = {
        **os.environ,
        "SEVTRIAGE_DATABASE_URL": database_url,
        "SEVTRIAGE_API_TOKENS": f"bench:{TOKEN}",
    }
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sevtriage", "serve", "--no-model", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=sink,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"the service exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "the service did not start in 60 s"
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.1)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


def _tickets(tmp_path: Path) -> list[dict[str, Any]]:
    """Generated tickets without created_at (the generator's dates may be after the server's
    now, which the service refuses): each is stored with the time of its intake."""
    out = tmp_path / "tickets.jsonl"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "data" / "tools" / "generate_corpus.py"),
            *("--n", str(TICKETS), "--seed", "21", "--out", str(out)),
        ],
        check=True,
        capture_output=True,
    )
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return [{k: v for k, v in record.items() if k != "created_at"} for record in records]


def _post(url: str, batch: list[dict[str, Any]]) -> list[str]:
    """The statuses of one batch; raises on any transport error (the server is gone)."""
    response = httpx.post(f"{url}/v1/tickets", json=batch, headers=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    return [answer["status"] for answer in response.json()["tickets"]]


def _committed(engine: Engine, ticket_id: str) -> bool:
    with engine.connect() as connection:
        query = select(tickets.c.id).where(tickets.c.id == ticket_id)
        return connection.execute(query).first() is not None


def test_service_killed_mid_stream_stores_every_ticket_once_after_resending(
    database_url: str, tmp_path: Path
) -> None:
    """SIGKILL with batches in flight, one of them just committed (its rows seen in the
    database, its answer most likely not sent yet); everything unacknowledged and some acknowledged
    batches re-sent to the restarted service: one ticket row and one intake decision per id."""
    records = _tickets(tmp_path)
    small = [records[i : i + BATCH] for i in range(0, len(records) - BIG, BATCH)]
    batches = [*small, records[-BIG:]]
    big = len(batches) - 1
    acked: dict[int, list[str]] = {}
    todo = list(range(len(small)))
    lock = threading.Lock()
    log = tmp_path / "service.log"

    def send(url: str, index: int) -> bool:
        try:
            statuses = _post(url, batches[index])
        except httpx.TransportError:
            return False  # killed: not acknowledged
        with lock:
            acked[index] = statuses
        return True

    def client(url: str) -> None:
        while True:
            with lock:
                if not todo:
                    return
                index = todo.pop(0)
            if not send(url, index):
                return

    engine = create_engine(database_url)
    try:
        with _service(database_url, log) as (proc, url):
            threads = [threading.Thread(target=client, args=(url,)) for _ in range(CLIENTS)]
            threads.append(threading.Thread(target=send, args=(url, big)))
            for thread in threads[:-1]:
                thread.start()
            deadline = time.monotonic() + 60
            while len(acked) < len(small) // 4:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.005)
            threads[-1].start()
            while not _committed(engine, batches[big][0]["id"]):
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.001)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            for thread in threads:
                thread.join(timeout=60)
    finally:
        engine.dispose()
    assert all(status == "created" for statuses in acked.values() for status in statuses)
    unacked = [i for i in range(len(small)) if i not in acked]
    assert unacked, "the kill must land while batches were still being sent"

    again = random.Random(3).sample(sorted(acked), 3)
    with _service(database_url, log) as (_, url):
        for index in [*again, big]:  # committed before the kill, acknowledged or not
            assert _post(url, batches[index]) == ["unchanged"] * len(batches[index])
        resent = [status for index in unacked for status in _post(url, batches[index])]
    assert set(resent) <= {"created", "unchanged"}
    print(f"big batch acknowledged before the kill: {big in acked}; {len(unacked)} re-sent")

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            ids = list(connection.execute(select(tickets.c.id)).scalars())
            per_ticket = dict(
                connection.execute(
                    select(decisions.c.ticket_id, func.count())
                    .where(decisions.c.kind == "intake")
                    .group_by(decisions.c.ticket_id)
                ).all()
            )
            total_decisions = connection.execute(
                select(func.count()).select_from(decisions)
            ).scalar_one()
    finally:
        engine.dispose()
    assert sorted(ids) == sorted(record["id"] for record in records)
    assert per_ticket == dict.fromkeys(ids, 1)
    assert total_decisions == len(ids)


pytestmark = pytest.mark.slow
