"""The request path's shortcuts keep the contract: ``POST /v1/tickets`` sends the bytes FastAPI's
response model would have sent and OpenAPI still documents them; every triager is warmed up
before it serves, and a failed warm-up refuses nothing; single tickets take turns in the intake
lane on SQLite, batches do not; the heap is frozen while the app runs; the store compiles its
intake inserts at start, checkpoints SQLite's WAL in a thread, and its direct SQLite inserts
raise SQLAlchemy's errors."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pydantic import TypeAdapter
from pydantic_core import PydanticSerializationError
from sqlalchemy.exc import IntegrityError

from sevtriage.errors import ConfigError
from sevtriage.service.app import create_app
from sevtriage.service.encoding import encode
from sevtriage.service.settings import Settings
from sevtriage.service.startup import WARM_UP_TICKETS, warm_up
from sevtriage.store import NewDecision, NewTicket, Store
from sevtriage.store.checkpoints import WAL_AUTOCHECKPOINT
from sevtriage.store.store import _COMPILED
from sevtriage.triage import Triager, load_model
from tests.service.conftest import BOT, TOKENS, Clock, Server, running, spanish_p1_ticket

RESPONSE_MODEL = TypeAdapter(dict[str, Any])  # what FastAPI serialised the answers with


def _ticket(n: int, **fields: Any) -> dict[str, Any]:
    return spanish_p1_ticket(f"S-{n}", **fields)


# --- POST /v1/tickets: its own bytes, the response model's schema ----------------------------


def test_post_tickets_sends_the_bytes_the_response_model_would_send(server: Server) -> None:
    c = server.client
    answers = [
        (c.post("/v1/tickets", json=_ticket(1), headers=BOT), 201, "created"),
        (c.post("/v1/tickets", json=_ticket(1), headers=BOT), 200, "unchanged"),
        (c.post("/v1/tickets", json=_ticket(1, body="Ya funciona."), headers=BOT), 200, "updated"),
    ]
    for response, status, kind in answers:
        assert (response.status_code, response.json()["status"]) == (status, kind)
        assert response.headers["content-type"] == "application/json"
        assert response.content == RESPONSE_MODEL.dump_json(response.json())
    unchanged = _ticket(1, body="Ya funciona.")
    batch = c.post("/v1/tickets", json=[_ticket(2), unchanged], headers=BOT)
    assert batch.status_code == 200
    assert [t["status"] for t in batch.json()["tickets"]] == ["created", "unchanged"]
    assert batch.content == RESPONSE_MODEL.dump_json(batch.json())


@pytest.mark.parametrize(
    "content",
    [
        {
            "text": "ñ € 😀 \u2028 <&>",
            "n": [0.1, 1e-05, 1e16, 0.30000000000000004, -0.0, 2**63 - 1],
        },
        {"nan": float("nan"), "inf": float("inf"), "nested": {"a": [None, True, {"b": []}]}},
        {"at": datetime(2025, 3, 3, 15, 0, tzinfo=UTC), "on": datetime(2025, 3, 3).date()},
        {"big": 2**70, "numpy": np.float64(0.25), "tuple": (1, 2)},
    ],
)
def test_encode_writes_what_pydantic_writes(content: dict[str, Any]) -> None:
    assert encode(content) == RESPONSE_MODEL.dump_json(content)


def test_encode_refuses_a_lone_surrogate_as_pydantic_does() -> None:
    with pytest.raises(PydanticSerializationError):
        encode({"text": "\udc00"})


def test_post_tickets_still_documents_its_answer(triager: Triager) -> None:
    app = create_app(Settings(database_url="sqlite:///:memory:"), triager=triager)
    post = app.openapi()["paths"]["/v1/tickets"]["post"]
    schema = post["responses"]["200"]["content"]["application/json"]["schema"]
    assert (schema["type"], schema["additionalProperties"]) == ("object", True)
    assert set(post["responses"]) == {"200", "201", "413", "415", "422"}
    assert post["requestBody"]["required"] is True


# --- warm-up ------------------------------------------------------------------------------


class Recording(Triager):
    """The repository's rules, recording the ids of every ticket triaged."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def triage_records(
        self, records: Iterable[tuple[int, Any]], now: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        for result in super().triage_records(records, now):
            self.seen.append(str(result["id"]))
            yield result


def test_every_triager_is_warmed_up_before_it_serves(tmp_path: Path) -> None:
    first, second = Recording(), Recording()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db'}", tokens=dict(TOKENS))
    app = create_app(settings, now=Clock(), triager=first, loader=lambda: second)
    warm = [t["id"] for t in WARM_UP_TICKETS]
    assert first.seen == warm  # before the app even starts
    with running(app):
        assert second.seen == []
        app.state.reloader.reload("test")
        assert second.seen == warm  # before the reload put it in service


class Reading(Recording):
    """A ``Recording`` that also keeps the records it was given to warm up with."""

    def __init__(self) -> None:
        super().__init__()
        self.warmed: list[dict[str, Any]] = []

    def warm_up(self, records: Iterable[Any], now: datetime | None = None) -> int:
        records = list(records)
        self.warmed += records
        return super().warm_up(records, now)


def test_a_start_and_a_reload_warm_up_with_the_stores_latest_tickets(tmp_path: Path) -> None:
    """The triager in service, and the one a reload builds, triage the store's latest tickets
    (newest first, up to ``warm_up_tickets``) before they serve: text, plan and place, without
    a given severity, bodies cut at 5,000 characters."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'db'}", tokens=dict(TOKENS), warm_up_tickets=3
    )
    with running(create_app(settings, now=Clock())) as url:
        for n in range(1, 5):
            body = "Nadie puede entrar. " * (400 if n == 4 else 1)
            ticket = _ticket(n, body=body, severity="P3" if n == 3 else None)
            assert httpx.post(f"{url}/v1/tickets", json=ticket, headers=BOT).status_code == 201
    first, second = Reading(), Reading()
    app = create_app(settings, now=Clock(), triager=first, loader=lambda: second)
    warm = [t["id"] for t in WARM_UP_TICKETS]
    with running(app) as url:
        recent = ["S-4", "S-3", "S-2"]
        assert first.seen == [*warm, *warm, *recent]  # at creation, then with the store open
        by_id = {r["id"]: r for r in first.warmed}
        assert len(by_id["S-4"]["body"]) == 5000 and by_id["S-3"].get("severity") is None
        assert by_id["S-2"]["plan"] == "business_plus" and by_id["S-2"]["country"] == "MX"
        assert httpx.post(f"{url}/v1/tickets", json=_ticket(9), headers=BOT).status_code == 201
        app.state.reloader.reload("test")
        assert second.seen == [*warm, "S-9", "S-4", "S-3"]


def test_no_warm_up_tickets_reads_none(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db'}", warm_up_tickets=0)
    store = Store.open(settings.database_url)
    try:
        assert store.recent_contents(0) == []
    finally:
        store.close()
    first = Reading()
    with running(create_app(settings, now=Clock(), triager=first)):
        assert first.seen == [t["id"] for t in WARM_UP_TICKETS]
    assert Settings.from_env({"SEVTRIAGE_WARM_UP_TICKETS": "0"}).warm_up_tickets == 0
    with pytest.raises(ConfigError, match="SEVTRIAGE_WARM_UP_TICKETS"):
        Settings.from_env({"SEVTRIAGE_WARM_UP_TICKETS": "many"})
    with pytest.raises(ConfigError, match=r"SEVTRIAGE_MAX_BATCH.*not a positive integer"):
        Settings.from_env({"SEVTRIAGE_MAX_BATCH": "0"})


def test_the_warm_up_tickets_take_the_paths_a_first_request_would(tmp_path: Path) -> None:
    """Valid tickets, classified with the model, with deadlines on holiday calendars."""
    triager = Triager(model=load_model())
    now = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
    results = list(triager.triage_records(enumerate(WARM_UP_TICKETS), now))
    assert [r["id"] for r in results] == [t["id"] for t in WARM_UP_TICKETS]
    for result in results:
        assert "error" not in result, result
        assert result["versions"]["model"] is not None
        assert result["sla"].get("error") is None and result["sla"]["plan"] is not None


def test_a_failing_warm_up_refuses_nothing(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Triager):
        def triage_records(
            self, records: Iterable[tuple[int, Any]], now: datetime | None = None
        ) -> Iterator[dict[str, Any]]:
            raise RuntimeError("warm-up bug")

    triager = Broken()
    log = logging.getLogger("uvicorn.error")
    log.addHandler(caplog.handler)
    try:
        assert warm_up(triager, Clock()) is triager
    finally:
        log.removeHandler(caplog.handler)
    assert "warm-up triage failed" in caplog.text and "warm-up bug" in caplog.text


# --- the intake lane -----------------------------------------------------------------------


class Slow(Triager):
    """The repository's rules, taking 50 ms per call and counting the calls at once."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.running = self.most = 0

    def triage_records(
        self, records: Iterable[tuple[int, Any]], now: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.05)
            yield from super().triage_records(records, now)
        finally:
            with self.lock:
                self.running -= 1


def test_single_tickets_take_turns_on_sqlite_and_batches_do_not(database_url: str) -> None:
    slow = Slow()
    settings = Settings(database_url=database_url, tokens=dict(TOKENS))
    with running(create_app(settings, triager=slow)) as url:
        sqlite = database_url.startswith("sqlite")

        def post_all(bodies: list[Any]) -> list[int]:
            with ThreadPoolExecutor(len(bodies)) as pool:
                posts = [
                    pool.submit(httpx.post, f"{url}/v1/tickets", json=b, headers=BOT, timeout=60)
                    for b in bodies
                ]
                return [p.result().status_code for p in posts]

        slow.most = 0
        assert post_all([_ticket(n) for n in range(6)]) == [201] * 6
        assert (slow.most == 1) if sqlite else (slow.most > 1)
        slow.most = 0
        assert post_all([[_ticket(10 + n)] for n in range(4)]) == [200] * 4
        assert slow.most > 1  # batches run side by side, outside the lane


# --- the heap ------------------------------------------------------------------------------


def test_the_heap_is_frozen_while_the_app_runs_and_released_after(
    triager: Triager, tmp_path: Path
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db'}", tokens=dict(TOKENS))
    with running(create_app(settings, triager=triager)):
        assert gc.get_freeze_count() > 1000
    assert gc.get_freeze_count() == 0


# --- the store -----------------------------------------------------------------------------


def test_store_warm_up_compiles_the_intake_inserts_and_writes_nothing(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        store.warm_up()
        compiled = _COMPILED[store.engine.dialect]
        assert len(compiled) == 2 and store.count_tickets() == 0
        now = datetime.now(UTC)
        with store.writing("test", now) as writer:
            assert writer.create_ticket(NewTicket("W-1", now))
            decision = NewDecision("intake", "P3", "rules", 0.9, needs_review=False, deadlines={})
            writer.add_decision("W-1", decision)
        assert len(compiled) == 2  # an intake used exactly the inserts compiled at start
        assert store.count_tickets() == 1
    finally:
        store.close()


def test_recent_contents_are_the_latest_decisions_contents_cut(database_url: str) -> None:
    """Newest first, at most ``limit``, bodies cut at ``body_chars``, decisions without content
    skipped; streamed on PostgreSQL (a server-side cursor) as on SQLite."""
    store = Store.open(database_url)
    now = datetime.now(UTC)
    try:
        with store.writing("test", now) as writer:
            for n in range(1, 6):
                writer.create_ticket(NewTicket(f"R-{n}", now))
                content = {"id": f"R-{n}", "subject": "s", "body": "x" * (10 * n)}
                decision = NewDecision(
                    "intake", "P3", "rules", 0.9, False, {}, content=None if n == 3 else content
                )
                writer.add_decision(f"R-{n}", decision)
        recent = store.recent_contents(3, body_chars=35)
        assert [c["id"] for c in recent] == ["R-5", "R-4", "R-2"]
        assert [len(c["body"]) for c in recent] == [35, 35, 20]
        assert store.recent_contents(10)[0]["body"] == "x" * 50
        assert store.recent_contents(0) == []
    finally:
        store.close()


def test_inserts_raise_sqlalchemy_errors_on_every_database(database_url: str) -> None:
    store = Store.open(database_url)
    now = datetime.now(UTC)
    decision = NewDecision("intake", "P3", "rules", 0.9, needs_review=False, deadlines={})
    try:
        with pytest.raises(IntegrityError), store.writing("test", now) as writer:
            writer.add_decision("no-such-ticket", decision)  # the foreign key refuses it
        assert store.count_tickets() == 0
    finally:
        store.close()


def _autocheckpoint(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def test_the_service_checkpoints_the_sqlite_wal_in_a_thread(tmp_path: Path) -> None:
    plain = Store.open(f"sqlite:///{tmp_path / 'plain.db'}")
    try:
        assert plain.checkpointer is None and _autocheckpoint(plain) == 1000
    finally:
        plain.close()
    store = Store.open(f"sqlite:///{tmp_path / 'db'}", background_checkpoints=True)
    checkpointer = store.checkpointer
    assert checkpointer is not None
    try:
        assert _autocheckpoint(store) == WAL_AUTOCHECKPOINT
        now = datetime.now(UTC)
        for n in range(20):
            with store.writing("test", now) as writer:
                writer.create_ticket(NewTicket(f"C-{n}", now))
        done = checkpointer.checkpoints
        deadline = time.monotonic() + 10
        while checkpointer.checkpoints < done + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert checkpointer.checkpoints >= done + 2
        checkpointer.stop()  # so that this checkpoint does not meet the thread's
        busy, pages, copied = checkpointer.checkpoint()
        assert busy == 0 and pages > 0 and copied == pages  # nothing left for a commit to copy
    finally:
        store.close()
    assert not checkpointer._thread.is_alive()


def test_no_checkpoint_thread_on_postgresql(database_url: str) -> None:
    store = Store.open(database_url, background_checkpoints=True)
    try:
        sqlite = store.engine.dialect.name == "sqlite"
        assert (store.checkpointer is not None) == sqlite
    finally:
        store.close()
