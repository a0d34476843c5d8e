"""Idempotent intake under concurrency: 8 clients post 2,000 tickets in parallel (each ticket by
two different clients, in opposite orders, in batches of 5 so transactions overlap on several rows)
against a real server and database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from sevtriage.store import Store
from sevtriage.store.schema import decisions, tickets
from tests.service.conftest import BOT, Server

CLIENTS, TICKETS, BATCH = 8, 2000, 5


def _ticket(n: int) -> dict[str, str]:
    return {
        "id": f"C-{n:05d}",
        "subject": "Inbox down" if n % 3 == 0 else "Question",
        "body": f"Nobody can log in since 9am (case {n})." if n % 3 == 0 else f"How do I {n}?",
        "plan": "business_plus" if n % 2 else "pro",
        "timezone": "Europe/Madrid",
        "country": "ES",
    }


def _post_all(url: str, numbers: list[int]) -> list[tuple[int, str]]:
    results = []
    with httpx.Client(base_url=url, timeout=60, headers=BOT) as client:
        for start in range(0, len(numbers), BATCH):
            batch = [_ticket(n) for n in numbers[start : start + BATCH]]
            response = client.post("/v1/tickets", json=batch)
            assert response.status_code == 200, response.text
            results.extend((200, t["status"]) for t in response.json()["tickets"])
    return results


def test_parallel_intake_stores_every_ticket_once_without_errors(server: Server) -> None:
    """Every ticket id is stored once with one decision, though each is posted twice at once."""
    share = TICKETS // (CLIENTS // 2)
    parts = [list(range(i * share, (i + 1) * share)) for i in range(CLIENTS // 2)]
    work = parts + [list(reversed(p)) for p in parts]  # every ticket by two clients
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = [r for rs in pool.map(lambda ns: _post_all(server.url, ns), work) for r in rs]
    assert len(results) == 2 * TICKETS
    assert {code for code, _ in results} <= {200, 201}
    assert sum(status == "created" for _, status in results) == TICKETS
    assert sum(status == "unchanged" for _, status in results) == TICKETS
    store = Store.open(server.database_url)
    try:
        with store.reading() as conn:
            assert conn.execute(select(func.count()).select_from(tickets)).scalar_one() == TICKETS
            assert conn.execute(select(func.count()).select_from(decisions)).scalar_one() == TICKETS
    finally:
        store.close()
