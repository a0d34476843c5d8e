"""``POST /v1/tickets`` as a plain ASGI app, in front of the FastAPI app (``TicketIntake``).

The busiest route spent about as much CPU in the HTTP stack as in triage: Starlette's
``ServerErrorMiddleware``, our ``MetricsMiddleware`` and ``BodySizeLimit``, Starlette's
``ExceptionMiddleware`` and router, FastAPI's request handling (two exit stacks, the
dependency solver, a ``Request``) and a Starlette ``Response``: each a coroutine, a ``send``
wrapper or an object per request. This app answers exactly ``POST /v1/tickets`` (http, method
POST, path "/v1/tickets") before any of them (~0.25 ms less server CPU per request at 300 req/s,
2.70 -> 2.45 ms in 4 paired runs, the ticket in its thread either way); every other request
goes to the FastAPI app unchanged. The FastAPI route stays registered: it documents the route
(``/docs``, OpenAPI) and answers it the same way when the app is built without this path
(``create_app(fast_path=False)``).

The answers are the route's, byte for byte: the same steps in the same order (a Content-Length
over the limit or not a number: 413 and close; the context; the bearer token, 401; the media
type, 415; the body, counted as it streams in, 413; the JSON, 422; the triage and storing,
``routes_api.tickets_answer``), the same answers to errors (``errors.answer_for``, as the app's
exception handlers find theirs) and to anything else: a logged 500, "Internal Server Error", as
``ServerErrorMiddleware`` sends it, and the exception raised on to the server (which logs it and
closes the connection). The request is counted in the same Prometheus series as
``MetricsMiddleware`` counts it: method, route template (``unmatched`` for a body refused by its
declared length, which that middleware counts before routing), status and latency. FastAPI's
own OpenTelemetry instrumentation (off unless configured; we do not configure it) does not see
these requests.

Where one ticket runs. With SQLite the store's writes take turns, and single tickets took turns
in one thread (the intake lane) anyway: handing each to that thread and back (anyio's
``run_sync``, the wake-ups, the GIL passed between the loop and the thread whenever a C call
lets go of it) cost 0.44 ms of server CPU per request at 300 req/s (5 paired runs on a busy
machine: 1.98 ms with the ticket run on the loop's thread, 2.42 ms through the lane). So one
ticket runs on the loop's thread, unless that would stall the loop:

- Only with a lane (SQLite). PostgreSQL's writes wait on the network: the threadpool.
- Only when no request of this process is in a thread (lane or threadpool): a batch, an event,
  a review or a sweep may hold the store's write lock, and the loop would wait for its commit
  with every connection. Measured with a 500-ticket batch every 2 s beside 200 req/s of single
  tickets (5 runs each): ``/healthz`` p99 35-48 ms through the lane, 37-49 ms with this rule
  (and the same CPU), 307 ms (max 644 ms, 1 run) running every single ticket on the loop.
  Batches always run in the threadpool.
- Only bodies up to ``INLINE_MAX_BYTES``: a longer ticket's triage holds the loop longer.
- Not under ``serve --workers N``: the other workers write to the same SQLite file, and a
  commit would wait for theirs on the loop. Another process writing to the file (a
  ``classify --store``) can still make one intake wait there, as long as its transaction lasts.

While a ticket runs on the loop, the server reads no other request: a single ticket waits as
it did in the lane; any other request waits for at most one intake (~1.3 ms, <= ~7 ms).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from starlette.datastructures import State
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from sevtriage.service.auth import writer_of
from sevtriage.service.context import ServiceContext
from sevtriage.service.encoding import Answer
from sevtriage.service.errors import SERVER_ERROR, answer_for
from sevtriage.service.limits import count_body, declared_too_large, refusal
from sevtriage.service.metrics import Metrics
from sevtriage.service.routes_api import tickets_answer
from sevtriage.service.schemas import decode_json_body, require_json_media_type

PATH = "/v1/tickets"
# One ticket runs on the loop's thread only up to this size: its intake (~1.3 ms + ~1.4 ms per
# 1,000 characters of body, measured) then holds the loop for at most ~7 ms; ~99 % of real
# tickets are smaller (``data/test.jsonl``: median 555 bytes, p99 3.9 KB).
INLINE_MAX_BYTES = 4096
UNMATCHED = "unmatched"  # ``MetricsMiddleware``'s route for a request refused before routing


def _first(headers: Iterable[tuple[bytes, bytes]], wanted: bytes) -> str | None:
    """The first value of header ``wanted`` (a lower-case name), as Starlette reads it."""
    for name, value in headers:
        if name == wanted:
            return value.decode("latin-1")
    return None


async def read_body(receive: Receive, max_bytes: int) -> bytes:
    """The request body, as Starlette's ``Request.body`` reads it; ``BodyTooLarge`` as soon as
    it passes ``max_bytes``, ``ClientDisconnect`` if the client goes away."""
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        received = count_body(message, received, max_bytes)
        if message["type"] == "http.request":
            body = message.get("body", b"")
            if body:
                chunks.append(body)
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


class TicketIntake:
    """Answers ``POST /v1/tickets`` (see the module docstring); ``state`` is the app's (its
    context in service and settings), ``metrics`` the app's; ``inline``: this is the only
    server process writing to its database, so one ticket may run on the event loop's thread
    (``routes_api.tickets_answer``)."""

    def __init__(self, state: State, metrics: Metrics, max_bytes: int, *, inline: bool) -> None:
        self.state = state
        self.metrics = metrics
        self.max_bytes = max_bytes
        self.inline = inline
        self.refusal = refusal(max_bytes)

    @staticmethod
    def serves(scope: Scope) -> bool:
        return bool(scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        route, status = PATH, 500
        try:
            if declared_too_large(scope["headers"], self.max_bytes):
                route, answer = UNMATCHED, self.refusal
            else:
                try:
                    answer = await self._handled(scope, receive)
                except Exception:
                    await SERVER_ERROR.send(send)  # as ``ServerErrorMiddleware``, and raised on
                    raise
            status = answer.status
            await answer.send(send)
        finally:
            self.metrics.request("POST", route, status, time.perf_counter() - started)

    async def _handled(self, scope: Scope, receive: Receive) -> Answer:
        """The route's answer, or the answer to what it raised as the app's exception handlers
        give it; what none of them takes is raised."""
        try:
            return await self._answer(scope, receive)
        except Exception as exc:
            answer = answer_for(exc)
            if answer is None:
                raise
            return answer

    async def _answer(self, scope: Scope, receive: Receive) -> Answer:
        """The route's steps, in its order; raises what the route raises."""
        ctx = self.state.ctx
        assert isinstance(ctx, ServiceContext)
        headers = scope["headers"]
        actor = writer_of(_first(headers, b"authorization"), self.state.settings.tokens)
        require_json_media_type(_first(headers, b"content-type"))
        raw = await read_body(receive, self.max_bytes)
        payload = decode_json_body(raw)
        inline = self.inline and len(raw) <= INLINE_MAX_BYTES
        return await tickets_answer(ctx, actor, payload, inline=inline)
