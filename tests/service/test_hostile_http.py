"""Hostile input through the real HTTP service: one answer per request, never a 500, every error
a problem naming the field and what is wrong, nothing stored for a rejected input, and the
server's memory bounded. The server is ``sevtriage serve`` in a process of its own, so its peak
RSS (``VmHWM``) is its own and not the test's."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sevtriage.service.settings import Settings
from tests.hostile import HostileCase, hostile_cases, ragged_csv
from tests.service.conftest import BOT, Server

TOKEN = "tok-hostile-bot-789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CT = {"content-type": "application/json"}
JSON = {**AUTH, **CT}
MAX_BODY = Settings(
    database_url=""
).max_body_bytes  # the default, 8 MiB: the 10 MB bodies exceed it

# kind of hostile input -> (status, problem code, field); code None: accepted and stored.
EXPECTED: dict[str, tuple[int, str | None, str | None]] = {
    "unterminated": (422, "invalid_json", None),
    "single_quotes": (422, "invalid_json", None),
    "null": (422, "not_an_object", None),
    "empty_array": (422, "empty_batch", None),
    "number": (422, "not_an_object", None),
    "blank": (422, "invalid_json", None),
    "whitespace": (422, "invalid_json", None),
    "null_id": (422, "missing_field", "id"),
    "null_body": (422, "missing_field", "body"),
    "object_id": (422, "wrong_type", "id"),
    "bool_id": (422, "wrong_type", "id"),
    "list_body": (422, "wrong_type", "body"),
    "int_created_at": (422, "wrong_type", "created_at"),
    "bad_created_at": (422, "invalid_datetime", "created_at"),
    "bad_timezone": (422, "unknown_timezone", "timezone"),
    "bad_language": (422, "unknown_language", "language"),
    "dict_tags": (422, "wrong_type", "tags"),
    "huge_id": (422, "too_large", "id"),
    "invalid_utf8": (422, "invalid_utf8", None),
    "nul_body": (422, "invalid_text", "body"),
    "deep_brackets": (422, "too_deep", None),
    "big_body": (413, "too_large", None),
    "control_chars": (201, None, None),
    "html": (201, None, None),
    "rtl": (201, None, None),
    "emoji": (201, None, None),
    "deep_extra": (201, None, None),
    "ok": (201, None, None),
    "ok_es": (201, None, None),
    "ok_long": (201, None, None),
}


# --- a real server process ------------------------------------------------------------------


@dataclass
class ServerProcess:
    """``sevtriage serve`` running in its own process on 127.0.0.1."""

    url: str
    process: subprocess.Popen[bytes]
    database: Path
    log: Path

    def status_kib(self, key: str) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
        raise AssertionError(f"no {key} in /proc/{self.process.pid}/status")

    def peak_rss_mb(self) -> float:
        """The server's own peak resident memory (VmHWM), in MB."""
        return self.status_kib("VmHWM") / 1024

    def rss_mb(self) -> float:
        return self.status_kib("VmRSS") / 1024

    def stored(self) -> dict[str, int]:
        """Ticket id -> number of decisions, read from the server's SQLite file."""
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as db:
            ids = {row[0] for row in db.execute("SELECT id FROM tickets")}
            counts = dict(db.execute("SELECT ticket_id, count(*) FROM decisions GROUP BY 1"))
        assert set(counts) <= ids
        return {i: counts.get(i, 0) for i in ids}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server_process(
    tmp: Path, *serve_args: str, env: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    """Run ``sevtriage serve`` on a free port with a SQLite file in ``tmp``; stop it after."""
    database = tmp / "sevtriage.db"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SEVTRIAGE_")}
    environ |= {
        "SEVTRIAGE_DATABASE_URL": f"sqlite:///{database}",
        "SEVTRIAGE_API_TOKENS": f"bot:{TOKEN}",
        **(env or {}),
    }
    port = free_port()
    log = tmp / "server.log"
    command = [sys.executable, "-m", "sevtriage", "serve", "--port", str(port), *serve_args]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--log-level", "warning"], stdout=out, stderr=subprocess.STDOUT, env=environ
        )
    server = ServerProcess(f"http://127.0.0.1:{port}", process, database, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the server exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the server did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


# --- checking answers -------------------------------------------------------------------------


def assert_problem_body(response: httpx.Response) -> list[dict[str, Any]]:
    """The service's problem format: ``{"detail": [{"loc", "field", "code", "msg"}, ...]}``."""
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    body = response.json()
    problems = body["detail"]
    assert isinstance(problems, list) and problems, body
    for problem in problems:
        assert set(problem) >= {"loc", "field", "code", "msg"}, problem
        assert isinstance(problem["loc"], list)
        assert isinstance(problem["code"], str) and problem["code"], problem
        assert isinstance(problem["msg"], str) and problem["msg"], problem
        assert problem["field"] is None or isinstance(problem["field"], str), problem
    return problems


def check_answer(case: HostileCase, response: httpx.Response) -> None:
    status, code, field = EXPECTED[case.kind]
    assert response.status_code == status, (case.kind, response.status_code, response.text[:300])
    if code is None:
        answer = response.json()
        assert (answer["status"], answer["id"]) == ("created", case.ticket_id), answer
        assert answer["severity"] in {"P1", "P2", "P3", "P4"}
        return
    problems = assert_problem_body(response)
    assert len(problems) == 1, problems
    assert (problems[0]["code"], problems[0]["field"]) == (code, field), (case.kind, problems)
    assert problems[0]["loc"][0] == "body", problems


def post(client: httpx.Client, data: Any, headers: dict[str, str] = JSON) -> httpx.Response:
    return client.post("/v1/tickets", content=data, headers=headers)


def special_requests(client: httpx.Client) -> set[str]:
    """Wrong Content-Types, streamed oversized bodies, CSV, mixed and oversized batches: each
    refused with the right problem. Returns the ids of the valid tickets in a good batch."""
    good = json.dumps({"id": "ct-1", "body": "The API is down for everyone"}).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "text/csv"):
        refused = post(client, good, {**AUTH, "content-type": content_type})
        assert refused.status_code == 415, refused.text
        assert assert_problem_body(refused)[0]["code"] == "unsupported_media_type"
    assert post(client, good, AUTH).status_code == 415  # no Content-Type at all
    utf16 = post(
        client,
        good.decode().encode("utf-16"),
        {**AUTH, "content-type": "application/json; charset=utf-16"},
    )
    assert utf16.status_code == 415 and "UTF-8" in assert_problem_body(utf16)[0]["msg"]
    csv = post(client, ragged_csv(10_000, seed=2), {**AUTH, "content-type": "text/csv"})
    assert csv.status_code == 415

    def chunks() -> Iterator[bytes]:  # no Content-Length: cut off while streaming
        yield b'{"id": "streamed", "body": "'
        for _ in range(MAX_BODY // 65536 + 2):
            yield b"A" * 65536
        yield b'"}'

    # Just under the limit: read, decoded (8 MB of emoji) and refused, and not kept afterwards.
    emoji = "🔥" * (MAX_BODY // 4 - 16)
    near_limit = json.dumps({"id": "near-limit", "body": emoji}, ensure_ascii=False).encode()
    assert len(near_limit) <= MAX_BODY
    for _ in range(3):
        refused = post(client, near_limit)
        assert refused.status_code == 422, refused.text[:300]
        assert assert_problem_body(refused)[0]["code"] == "too_large"

    streamed = post(client, chunks())
    assert streamed.status_code == 413
    assert assert_problem_body(streamed)[0]["code"] == "too_large"

    # A batch with bad items is refused whole, each problem under its index; nothing stored.
    mixed = [
        {"id": "mixed-0", "body": "The inbox is down"},
        {"id": "mixed-1", "body": None},
        42,
        {"id": "mixed-3", "body": "ok", "timezone": "Mars/Olympus"},
        {"id": "mixed-4", "body": "ok", "channel": "\ud800"},
        {"id": "mixed-5", "body": "¿Cómo exporto?"},
    ]
    refused = post(client, json.dumps(mixed).encode())
    assert refused.status_code == 422
    assert [(p["loc"], p["code"]) for p in assert_problem_body(refused)] == [
        (["body", 1, "body"], "missing_field"),
        (["body", 2], "not_an_object"),
        (["body", 3, "timezone"], "unknown_timezone"),
        (["body", 4, "channel"], "invalid_utf8"),
    ]
    too_many = [{"id": f"many-{i}", "body": "x"} for i in range(1001)]
    refused = post(client, json.dumps(too_many).encode())
    assert refused.status_code == 422 and assert_problem_body(refused)[0]["code"] == "too_large"

    batch = [{"id": f"batch-{i}", "body": f"Exports fail for user {i}"} for i in range(50)]
    accepted = post(client, json.dumps(batch).encode())
    assert accepted.status_code == 200, accepted.text
    assert [t["status"] for t in accepted.json()["tickets"]] == ["created"] * 50
    return {t["id"] for t in batch}


def run_corpus(server: ServerProcess, cases: list[HostileCase]) -> tuple[float, set[str]]:
    """Send every case as its own request over one keep-alive client; returns the seconds taken
    and the ids that must now be stored."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        started = time.perf_counter()
        statuses: Counter[int] = Counter()
        for case in cases:
            response = post(client, case.data)
            statuses[response.status_code] += 1
            check_answer(case, response)
        extra = special_requests(client)
        elapsed = time.perf_counter() - started
    assert sum(statuses.values()) == len(cases)
    assert not [s for s in statuses if s >= 500]
    assert "Traceback" not in server.log.read_text(errors="replace")
    print(f"\n{len(cases)} hostile requests in {elapsed:.1f} s: {dict(sorted(statuses.items()))}")
    valid = {c.ticket_id for c in cases if EXPECTED[c.kind][1] is None}
    return elapsed, {i for i in valid if i is not None} | extra


# --- the corpus --------------------------------------------------------------------------------


# Memory bounds. Measured here: the server starts at ~95 MB rules-only (uvicorn, FastAPI,
# SQLAlchemy, the rules engine) and ~255 MB with the model (numpy, scipy, scikit-learn); the
# corpus adds ~25 MB at peak. One request holds at most MAX_BODY (8 MiB) of body, its decoded text
# (up to 4x that for emoji) and the parsed JSON: ~50 MB in the worst case. Bodies over the limit
# are refused before they are read. So the peak may grow by MAX_GROWTH_MB over the start, and
# never pass the absolute bounds; holding on to rejected bodies (7,000 of them, ~150 MB) or
# reading a 10 MB body whole would break them.
MAX_GROWTH_MB = 80
RULES_ONLY_PEAK_MB = 250
WITH_MODEL_PEAK_MB = 400


@pytest.mark.slow
def test_10000_hostile_requests_one_answer_each_and_nothing_stored_for_rejects(
    tmp_path: Path,
) -> None:
    """The CLI's hostile corpus through POST /v1/tickets (rules only, as the other service tests
    run): each request one answer (the expected status and problem), no 500, exactly the valid
    tickets stored once, the server's peak RSS bounded."""
    cases = hostile_cases(10_000, seed=1)
    with server_process(tmp_path, "--no-model") as server:
        assert server.stored() == {}
        start_mb = server.rss_mb()
        elapsed, valid = run_corpus(server, cases)
        peak_mb = server.peak_rss_mb()
        stored = server.stored()
    print(f"server RSS at start {start_mb:.0f} MB, peak {peak_mb:.0f} MB")
    assert set(stored) == valid  # no row for any rejected input
    assert set(stored.values()) == {1}  # each valid input stored exactly once
    assert peak_mb - start_mb < MAX_GROWTH_MB, f"RSS {start_mb:.0f} -> {peak_mb:.0f} MB"
    assert peak_mb < RULES_ONLY_PEAK_MB, f"peak RSS {peak_mb:.0f} MB"
    assert elapsed < 120, f"{elapsed:.0f} s: the reject path should take about a millisecond"


@pytest.mark.slow
def test_hostile_slice_with_the_model(tmp_path: Path) -> None:
    """The same checks on 1,000 hostile inputs (two of them 10 MB) with the shipped model."""
    cases = hostile_cases(1_000, seed=3, big_bodies=2)
    with server_process(tmp_path) as server:
        start_mb = server.rss_mb()
        _, valid = run_corpus(server, cases)
        with_model = httpx.get(f"{server.url}/healthz").json()["versions"]["model"]
        peak_mb = server.peak_rss_mb()
        stored = server.stored()
    print(f"server with model {with_model}: RSS at start {start_mb:.0f} MB, peak {peak_mb:.0f} MB")
    assert with_model is not None
    assert set(stored) == valid and set(stored.values()) == {1}
    assert peak_mb - start_mb < MAX_GROWTH_MB, f"RSS {start_mb:.0f} -> {peak_mb:.0f} MB"
    assert peak_mb < WITH_MODEL_PEAK_MB, f"peak RSS {peak_mb:.0f} MB"


# --- regressions (bugs the corpus and the fuzz found) ------------------------------------------


def test_text_the_store_cannot_answer_is_refused_not_stored(server: Server) -> None:
    """Regression: a lone surrogate in an extra field or a channel was stored (201) and then every
    GET of the ticket was a 500; NaN was stored as invalid JSON. Now each is a 422 naming the
    field, and nothing is stored."""
    c = server.client
    bodies = {
        "extra": (b'{"id": "S-1", "body": "inbox down", "x": "\\udc00"}', "x"),
        "channel": (b'{"id": "S-2", "body": "inbox down", "channel": "a\\ud800"}', "channel"),
        "key": (b'{"id": "S-3", "body": "inbox down", "\\udc00": 1}', None),
        "nul": (b'{"id": "S-4", "body": "inbox down", "tags": ["a\\u0000"]}', "tags"),
        "nan": (b'{"id": "S-5", "body": "inbox down", "x": NaN}', None),
        "digits": (b'{"id": "S-6", "body": "inbox down", "x": ' + b"9" * 5000 + b"}", None),
        "inf": (b'{"id": "S-7", "body": "inbox down", "x": 1e999}', None),
    }
    for name, (data, field) in bodies.items():
        response = c.post("/v1/tickets", content=data, headers={**BOT, **CT})
        assert response.status_code == 422, (name, response.text)
        problem = assert_problem_body(response)[0]
        assert problem["field"] == field, (name, problem)
    for n in range(1, 8):
        assert c.get(f"/v1/tickets/S-{n}").status_code == 404


def test_text_fields_of_events_and_reviews_refuse_nul_and_lone_surrogates(server: Server) -> None:
    """Regression: a NUL in an event note was a 500 on PostgreSQL (its text cannot hold NUL).
    The other write endpoints now refuse NUL and lone surrogates like the intake, naming the
    field (pydantic already refused lone surrogates in plain string fields)."""
    c = server.client
    assert c.post("/v1/tickets", json={"id": "E-1", "body": "inbox down"}, headers=BOT).is_success
    note = b'{"kind": "first_response_sent", "note": "hi \\udc00"}'
    event = c.post("/v1/tickets/E-1/events", content=note, headers={**BOT, **CT})
    assert event.status_code == 422 and assert_problem_body(event)[0]["field"] == "note"
    reason = b'{"action": "override", "severity": "P2", "reason": "\\u0000"}'
    review = c.post("/v1/tickets/E-1/review", content=reason, headers={**BOT, **CT})
    assert review.status_code == 422 and assert_problem_body(review)[0]["field"] == "reason"
    assert c.get("/v1/tickets/E-1").status_code == 200


def test_ticket_ids_with_slashes_and_dots_can_be_read_back(server: Server) -> None:
    """Regression: an id like 'ZD/123' was stored but GET /v1/tickets/ZD%2F123 was a 404."""
    c = server.client
    for ticket_id in ("ZD/123", "..", "a?b#c", "%41"):
        assert c.post("/v1/tickets", json={"id": ticket_id, "body": "x"}, headers=BOT).is_success
        path = quote(ticket_id, safe="").replace(".", "%2E")
        assert c.get(f"/v1/tickets/{path}").json()["id"] == ticket_id
        event = c.post(
            f"/v1/tickets/{path}/events", json={"kind": "first_response_sent"}, headers=BOT
        )
        assert event.is_success, event.text


# --- fuzz of the text path ---------------------------------------------------------------------

_PIECES = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),  # lone surrogates (sent as \udXXX escapes)
    st.characters(categories=["Cc", "Cf", "Zl", "Zp"]),  # controls, RTL/LTR marks, ZWJ, BOM
    st.sampled_from(["\u202e", "\u200f", "\u2066", "\ufeff", "\x00", "ي", "ע", "🔥"]),
    st.sampled_from(["👨\u200d👩\u200d👧", "👍🏽", "🇲🇽", "<script>alert(1)</script>"]),
)
TEXT = st.lists(_PIECES, max_size=60).map("".join)
WORDS = st.sampled_from(["The inbox is down", "no workaround", "¿Cómo exporto?", "<b>x</b>"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=12,
)
FIELD = st.one_of(TEXT, WORDS, JSON_VALUES)
IDS = st.one_of(st.uuids().map(str), TEXT, st.integers(), JSON_VALUES)
BODIES = st.one_of(WORDS, st.tuples(WORDS, TEXT).map(" ".join), TEXT, FIELD)
TICKETS = st.fixed_dictionaries(
    {"id": IDS, "body": BODIES},
    optional={
        "subject": FIELD,
        "created_at": st.one_of(st.just("2025-03-03T09:00:00+01:00"), FIELD),
        "plan": st.one_of(st.sampled_from(["business_plus", "pro"]), FIELD),
        "timezone": st.one_of(st.sampled_from(["Europe/Madrid", "UTC"]), FIELD),
        "country": st.one_of(st.sampled_from(["ES", "mx"]), FIELD),
        "language": st.one_of(st.sampled_from(["en", "es"]), FIELD),
        "channel": FIELD,
        "requester": FIELD,
        "tags": st.one_of(st.lists(TEXT, max_size=3), FIELD),
        "severity": st.one_of(st.sampled_from(["P1", "p3", "P9"]), FIELD),
        "extra": FIELD,
    },
)
# A valid id and body with hostile other fields: these reach the store unless refused.
NEARLY_VALID = st.fixed_dictionaries(
    {"id": st.uuids().map(str), "body": WORDS},
    optional={
        "subject": TEXT,
        "channel": FIELD,
        "requester": TEXT,
        "tags": st.lists(TEXT, max_size=3),
        "extra": FIELD,
        "notes": st.dictionaries(TEXT, FIELD, max_size=3),
    },
)
PAYLOADS = st.one_of(
    NEARLY_VALID,
    TICKETS,
    st.lists(st.one_of(NEARLY_VALID, TICKETS), min_size=1, max_size=3),
    JSON_VALUES,
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _readable(client: httpx.Client, ticket_id: str) -> None:
    path = quote(ticket_id, safe="").replace(".", "%2E")
    response = client.get(f"/v1/tickets/{path}")
    assert response.status_code == 200, (ticket_id, response.text[:300])


@FUZZ
@given(payload=PAYLOADS)
def test_fuzzed_tickets_get_2xx_or_a_4xx_problem_never_a_500(server: Server, payload: Any) -> None:
    """Any JSON (surrogates as \\u escapes, NaN, controls, RTL, emoji, wrong types anywhere):
    201/200 and the stored ticket reads back, or a 4xx in the problem format."""
    data = json.dumps(payload, ensure_ascii=True, allow_nan=True).encode()
    response = server.client.post("/v1/tickets", content=data, headers={**BOT, **CT})
    event(f"status {response.status_code}")
    assert response.status_code < 500, response.text[:300]
    if response.status_code in (200, 201):
        answer = response.json()
        for ticket in answer.get("tickets", [answer]):
            _readable(server.client, ticket["id"])
    else:
        assert 400 <= response.status_code < 500
        assert_problem_body(response)


@FUZZ
@given(note=TEXT, reason=FIELD, raw=st.binary(max_size=200))
def test_fuzzed_events_reviews_and_raw_bytes_never_500(
    server: Server, note: str, reason: Any, raw: bytes
) -> None:
    """Fuzzed text in an event note and a review reason, and raw bytes as a ticket body."""
    c = server.client
    ticket_id = f"F-{uuid.uuid4().hex[:12]}"  # a fresh ticket: the clock takes its first event
    c.post("/v1/tickets", json={"id": ticket_id, "body": "inbox down", "plan": "pro"}, headers=BOT)
    for path, body in (
        (f"/v1/tickets/{ticket_id}/events", {"kind": "waiting_on_customer", "note": note}),
        (
            f"/v1/tickets/{ticket_id}/review",
            {"action": "override", "severity": "P2", "reason": reason},
        ),
    ):
        data = json.dumps(body, ensure_ascii=True, allow_nan=True).encode()
        response = c.post(path, content=data, headers={**BOT, **CT})
        assert response.status_code < 500, (path, response.text[:300])
        if response.status_code >= 400:
            assert_problem_body(response)
    response = c.post("/v1/tickets", content=raw, headers={**BOT, **CT})
    assert response.status_code < 500 and (response.is_success or assert_problem_body(response))
    _readable(c, ticket_id)
