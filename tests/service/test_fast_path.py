"""``POST /v1/tickets`` answered by the ASGI fast path (``service.fastpath``) is the FastAPI
route's answer: the same requests sent to a server with the fast path and to one without give
the same status, body bytes and headers, and the metrics count them the same way. The error
answers are the bytes Starlette's ``JSONResponse`` and ``ServerErrorMiddleware`` sent."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, PlainTextResponse

from sevtriage.service.app import Service, create_app
from sevtriage.service.errors import SERVER_ERROR, http_error_answer, problems_answer
from sevtriage.service.fastpath import INLINE_MAX_BYTES
from sevtriage.service.limits import BodyTooLarge, refusal
from sevtriage.service.settings import Settings
from sevtriage.triage import Triager
from tests.service.conftest import BOT, TOKENS, Clock, running, spanish_p1_ticket

MAX_BODY = 4096
JSON_CT = {"content-type": "application/json"}
AUTH_JSON = {**BOT, **JSON_CT}


class Exploding(Triager):
    """The repository's rules; a ticket with id ``boom`` is a bug (an unexpected exception)."""

    def triage_records(
        self, records: Iterable[tuple[int, Any]], now: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        items = list(records)
        if any(getattr(ticket, "id", None) == "boom" for _, ticket in items):
            raise RuntimeError("boom")
        return super().triage_records(items, now)


def _ticket(n: int, **fields: Any) -> dict[str, Any]:
    return spanish_p1_ticket(f"F-{n}", **fields)


def _data(value: Any) -> bytes:
    return json.dumps(value).encode()


def _chunks(*parts: bytes) -> Iterator[bytes]:
    yield from parts


# (name, method, path, headers, body): sent in this order to each server. A callable body is
# called per send (a generator: a chunked body without Content-Length).
REQUESTS: list[tuple[str, str, str, dict[str, Any], Any]] = [
    ("created", "POST", "/v1/tickets", AUTH_JSON, _data(_ticket(1))),
    ("unchanged", "POST", "/v1/tickets", AUTH_JSON, _data(_ticket(1))),
    ("updated", "POST", "/v1/tickets", AUTH_JSON, _data(_ticket(1, body="Ya funciona."))),
    ("batch", "POST", "/v1/tickets", AUTH_JSON, _data([_ticket(2), _ticket(1)])),
    ("query string", "POST", "/v1/tickets?x=1", AUTH_JSON, _data(_ticket(3))),
    (
        "charset",
        "POST",
        "/v1/tickets",
        {**BOT, "content-type": "application/json; charset=UTF-8"},
        _data(_ticket(4)),
    ),
    (
        "+json",
        "POST",
        "/v1/tickets",
        {**BOT, "content-type": "application/ticket+json"},
        _data(_ticket(5)),
    ),
    (
        "chunked",
        "POST",
        "/v1/tickets",
        AUTH_JSON,
        lambda: _chunks(b'{"id": "F-6", ', b'"body": "The inbox is down for everyone"}'),
    ),
    ("no token", "POST", "/v1/tickets", JSON_CT, _data(_ticket(7))),
    (
        "wrong token",
        "POST",
        "/v1/tickets",
        {"Authorization": "Bearer nope-nope-nope", **JSON_CT},
        _data(_ticket(7)),
    ),
    (
        "basic auth",
        "POST",
        "/v1/tickets",
        {"Authorization": "Basic dG9rLWFnZW50", **JSON_CT},
        _data(_ticket(7)),
    ),
    ("token before media type", "POST", "/v1/tickets", {"content-type": "text/plain"}, b"{}"),
    ("text/plain", "POST", "/v1/tickets", {**BOT, "content-type": "text/plain"}, _data(_ticket(7))),
    ("no content type", "POST", "/v1/tickets", BOT, _data(_ticket(7))),
    (
        "utf-16",
        "POST",
        "/v1/tickets",
        {**BOT, "content-type": "application/json; charset=utf-16"},
        json.dumps(_ticket(7)).encode("utf-16"),
    ),
    ("latin-1 media type", "POST", "/v1/tickets", {**BOT, "content-type": b"text/\xe9"}, b"{}"),
    (
        "declared too large",
        "POST",
        "/v1/tickets",
        AUTH_JSON,
        _data(_ticket(8, body="x" * MAX_BODY)),
    ),
    ("declared too large, no token", "POST", "/v1/tickets", JSON_CT, b" " * (MAX_BODY + 1)),
    ("chunked too large", "POST", "/v1/tickets", AUTH_JSON, lambda: _chunks(*[b" " * 1024] * 5)),
    (
        "chunked too large, wrong type",
        "POST",
        "/v1/tickets",
        {**BOT, "content-type": "text/csv"},
        lambda: _chunks(*[b" " * 1024] * 5),
    ),
    ("just under the limit", "POST", "/v1/tickets", AUTH_JSON, b" " * MAX_BODY),
    ("broken JSON", "POST", "/v1/tickets", AUTH_JSON, b'{"id": "F-9", "body": '),
    ("empty", "POST", "/v1/tickets", AUTH_JSON, b""),
    ("not UTF-8", "POST", "/v1/tickets", AUTH_JSON, b'{"id": "F-9", "body": "\xff\xfe"}'),
    ("NaN", "POST", "/v1/tickets", AUTH_JSON, b'{"id": "F-9", "body": "x", "n": NaN}'),
    ("1e999", "POST", "/v1/tickets", AUTH_JSON, b'{"id": "F-9", "body": "x", "n": 1e999}'),
    ("digits", "POST", "/v1/tickets", AUTH_JSON, b'{"id": "F-9", "n": ' + b"9" * 1500 + b"}"),
    ("too deep", "POST", "/v1/tickets", AUTH_JSON, b"[" * 1500 + b"]" * 1500),
    ("scalar", "POST", "/v1/tickets", AUTH_JSON, b"42"),
    ("empty batch", "POST", "/v1/tickets", AUTH_JSON, b"[]"),
    ("batch too large", "POST", "/v1/tickets", AUTH_JSON, _data([{"id": "x"}] * 4)),
    ("missing body", "POST", "/v1/tickets", AUTH_JSON, _data({"id": "F-9"})),
    ("bad timezone", "POST", "/v1/tickets", AUTH_JSON, _data(_ticket(9, timezone="Mars/Olympus"))),
    (
        "in the future",
        "POST",
        "/v1/tickets",
        AUTH_JSON,
        _data(_ticket(9, created_at="2099-01-01T00:00:00Z")),
    ),
    ("NUL", "POST", "/v1/tickets", AUTH_JSON, _data(_ticket(9, tags=["a\x00"]))),
    (
        "lone surrogate",
        "POST",
        "/v1/tickets",
        AUTH_JSON,
        b'{"id": "F-9", "body": "x", "\\udc00": "\\ud800"}',
    ),
    (
        "bad batch",
        "POST",
        "/v1/tickets",
        AUTH_JSON,
        _data([{"id": "F-11"}, 7, _ticket(12, channel="\ud800")]),
    ),
    ("unexpected exception", "POST", "/v1/tickets", AUTH_JSON, _data(_ticket(0, id="boom"))),
    ("after the 500", "POST", "/v1/tickets", AUTH_JSON, _data(_ticket(13))),
    ("other method", "PUT", "/v1/tickets", AUTH_JSON, _data(_ticket(14))),
    ("trailing slash", "POST", "/v1/tickets/", AUTH_JSON, _data(_ticket(14))),
    ("read back", "GET", "/v1/tickets/F-1", {}, None),
]


def exchange(url: str) -> list[tuple[str, int, list[tuple[str, str]], bytes]]:
    """Every request of ``REQUESTS`` on a keep-alive client: (name, status, headers but the
    date, body) of each answer. After a 500 the server closes the connection without saying so
    (uvicorn, whatever the app): the next request takes a new client."""
    answers = []
    client = httpx.Client(base_url=url, timeout=60)
    try:
        for name, method, path, headers, body in REQUESTS:
            content = body() if callable(body) else body
            response = client.request(method, path, headers=headers, content=content)
            kept = [(k, v) for k, v in response.headers.multi_items() if k != "date"]
            answers.append((name, response.status_code, kept, response.content))
            if response.status_code == 500:
                client.close()
                client = httpx.Client(base_url=url, timeout=60)
    finally:
        client.close()
    return answers


def request_counts(url: str) -> list[str]:
    """The request and decision counters of the metrics exposition (not latencies or times)."""
    text = httpx.get(f"{url}/metrics").text
    counted = ("sevtriage_http_requests_total", "sevtriage_http_request_duration_seconds_count")
    return sorted(
        line
        for line in text.splitlines()
        if line.startswith((*counted, "sevtriage_decisions_total")) and "/metrics" not in line
    )


async def _asgi(
    app: Service, headers: list[tuple[bytes, bytes]], messages: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], type[BaseException] | None]:
    """One ``POST /v1/tickets`` straight into ``app`` (no server in between): what it sends,
    and the class of what it raises. ``messages``: what ``receive`` gives, in turn."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/tickets",
        "raw_path": b"/v1/tickets",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
        "state": {},
    }
    pending = list(messages)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return pending.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    try:
        await app(scope, receive, send)
    except Exception as exc:
        return sent, type(exc)
    return sent, None


# Requests uvicorn never passes on (httptools refuses a Content-Length that is not a number)
# or that need a client going away mid-body: sent to the ASGI apps directly.
BOT_RAW = [
    (b"authorization", BOT["Authorization"].encode()),
    (b"content-type", b"application/json"),
]
ASGI_REQUESTS: list[tuple[str, list[tuple[bytes, bytes]], list[dict[str, Any]]]] = [
    ("non-digit length", [*BOT_RAW, (b"content-length", b"12a")], []),
    ("negative length", [(b"content-length", b"-1"), *BOT_RAW], []),
    (
        "disconnect mid-body",
        BOT_RAW,
        [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}],
    ),
    (
        "first header of each name",
        [*BOT_RAW, (b"authorization", b"Bearer nope"), (b"content-type", b"text/plain")],
        [{"type": "http.request", "body": _data(_ticket(20)), "more_body": False}],
    ),
]


@pytest.fixture(scope="module")
def exploding() -> Triager:
    return Exploding()


def test_the_fast_path_answers_what_the_fastapi_route_answers(
    tmp_path: Path, exploding: Triager
) -> None:
    servers = []
    for fast in (True, False):
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / f'{fast}.db'}",
            tokens=dict(TOKENS),
            max_body_bytes=MAX_BODY,
            max_batch=3,
        )
        servers.append(create_app(settings, now=Clock(), triager=exploding, fast_path=fast))
    fast_app, slow_app = servers
    assert fast_app.fast_path is not None and slow_app.fast_path is None
    with running(fast_app) as fast_url, running(slow_app) as slow_url:
        fast_answers, slow_answers = exchange(fast_url), exchange(slow_url)
        for name, headers, messages in ASGI_REQUESTS:
            fast = asyncio.run(_asgi(fast_app, headers, messages))
            slow = asyncio.run(_asgi(slow_app, headers, messages))
            assert fast == slow, name
            assert fast[0], name  # an answer was sent
        fast_counts, slow_counts = request_counts(fast_url), request_counts(slow_url)
    for fast_answer, slow_answer in zip(fast_answers, slow_answers, strict=True):
        assert fast_answer == slow_answer, fast_answer[0]
    statuses = {name: status for name, status, _, _ in fast_answers}
    assert statuses["created"] == 201 and statuses["unchanged"] == statuses["updated"] == 200
    assert statuses["chunked"] == 201 and statuses["no token"] == 401
    assert statuses["declared too large"] == statuses["chunked too large"] == 413
    assert statuses["text/plain"] == 415 and statuses["broken JSON"] == 422
    assert statuses["unexpected exception"] == 500 and statuses["after the 500"] == 201
    assert fast_counts == slow_counts
    assert any('route="unmatched",status="413"' in line for line in fast_counts)
    assert any('route="/v1/tickets",status="500"' in line for line in fast_counts)
    assert any(line.startswith("sevtriage_decisions_total") for line in fast_counts)


def test_a_client_going_away_mid_body_is_a_500_raised_on(tmp_path: Path, triager: Triager) -> None:
    """As Starlette's ``Request.body``: ``ClientDisconnect``, the 500 sent (to nobody)."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db'}", tokens=dict(TOKENS))
    app = create_app(settings, now=Clock(), triager=triager)
    with running(app):
        sent, raised = asyncio.run(_asgi(app, BOT_RAW, ASGI_REQUESTS[2][2]))
    assert raised is ClientDisconnect
    assert (sent[0]["status"], sent[1]["body"]) == (500, b"Internal Server Error")


def test_error_answers_are_the_bytes_starlette_sent() -> None:
    """Problems as ``JSONResponse`` wrote them (non-ASCII kept, lone surrogates escaped), the
    401's header, and the 500 of ``ServerErrorMiddleware``."""
    problems = [{"loc": ["body", 0, "x"], "field": "x", "code": "c", "msg": 'ñ 🔥 \udc00 "q"'}]
    escaped = [{**problems[0], "msg": 'ñ 🔥 \\udc00 "q"'}]
    expected = JSONResponse({"detail": escaped}, status_code=422)
    answer = problems_answer(problems, 422)
    assert (answer.body, list(answer.headers)) == (expected.body, expected.raw_headers)
    from fastapi import HTTPException

    unauthorized = HTTPException(401, detail="no", headers={"WWW-Authenticate": "Bearer"})
    answer = http_error_answer(unauthorized)
    sent = JSONResponse(
        {"detail": [{"loc": [], "field": None, "code": "unauthorized", "msg": "no"}]},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )
    assert (answer.status, answer.body, list(answer.headers)) == (401, sent.body, sent.raw_headers)
    plain = PlainTextResponse("Internal Server Error", status_code=500)
    assert (SERVER_ERROR.body, list(SERVER_ERROR.headers)) == (plain.body, plain.raw_headers)


def test_a_body_refused_by_its_length_is_the_streamed_refusal_and_closes() -> None:
    streamed, declared = http_error_answer(BodyTooLarge(10)), refusal(10)
    assert (declared.status, declared.body) == (413, streamed.body)
    assert declared.headers == (*streamed.headers, (b"connection", b"close"))


class Threads(Triager):
    """The repository's rules, recording the thread that triaged each ticket; a batch holding
    a ticket whose id starts with ``held`` waits at a gate (until ``release``)."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: dict[str, str] = {}
        self.entered, self.release = threading.Event(), threading.Event()

    def triage_records(
        self, records: Iterable[tuple[int, Any]], now: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        items = list(records)
        ids = [str(getattr(ticket, "id", "")) for _, ticket in items]  # warm-up: dicts
        for ticket_id in ids:
            self.threads[ticket_id] = threading.current_thread().name
        if any(ticket_id.startswith("held") for ticket_id in ids):
            self.entered.set()
            assert self.release.wait(30)
        return super().triage_records(items, now)


def test_one_small_ticket_runs_on_the_loop_with_a_lane_and_no_thread_busy(
    database_url: str,
) -> None:
    """SQLite (a lane): a single ticket up to INLINE_MAX_BYTES runs on the event loop's
    thread, unless a request is in a thread (here a batch held in triage); a longer one, and
    every one on PostgreSQL (no lane), in a worker thread."""
    threads = Threads()
    settings = Settings(database_url=database_url, tokens=dict(TOKENS))
    worker = "AnyIO worker thread"
    app = create_app(settings, now=Clock(), triager=threads)
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as c:

        def post(ticket: Any) -> int:
            return c.post("/v1/tickets", json=ticket, headers=BOT).status_code

        assert post({"id": "small-1", "body": "The inbox is down"}) == 201
        assert post({"id": "long", "body": "x" * INLINE_MAX_BYTES}) == 201

        def held() -> None:
            batch = [{"id": "held", "body": "The inbox is down"}]
            assert httpx.post(f"{url}/v1/tickets", json=batch, headers=BOT).is_success

        holder = threading.Thread(target=held)
        holder.start()
        assert threads.entered.wait(30)
        assert post({"id": "small-2", "body": "The inbox is down"}) == 201
        threads.release.set()
        holder.join(30)
        assert post({"id": "small-3", "body": "The inbox is down"}) == 201
    found = threads.threads
    lane = database_url.startswith("sqlite")
    assert (found["small-1"] != worker, found["small-3"] != worker) == (lane, lane)
    assert found["long"] == found["small-2"] == found["held"] == worker
