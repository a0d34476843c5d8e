"""JSON answers encoded once, into the bytes sent, for the hot route (``POST /v1/tickets``).

For a handler that returns a dict, FastAPI validates it against the response model in its
threadpool (a second thread hop per request, ~45 us of CPU on an idle loop, more under load) and
then serialises it with pydantic: the framework's share of a request measured 0.32 ms in process,
0.24 ms without. A ``Response`` returned by the handler is sent as it is, so the route encodes its
answer here with orjson and keeps ``response_model`` in its decorator for the OpenAPI document.

The bytes are the ones pydantic would have sent: orjson writes the same compact JSON for what an
answer holds (str, int, float, bool, None, lists and dicts with str keys). What it writes
differently or refuses (datetimes: pydantic writes UTC as ``Z``; integers beyond 64 bits; numpy
scalars; non-str keys; lone surrogates) goes through pydantic's encoder, exactly as before.

An ``Answer`` is a whole HTTP answer (status, body, every header the app sends): the FastAPI
route and exception handlers turn it into a Starlette ``Response``, and the route's ASGI fast
path (``service.fastpath``) sends it as it is, so both send the same bytes and headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import TypeAdapter
from starlette.responses import Response
from starlette.types import Send

# What FastAPI serialises a ``dict[str, Any]`` answer with (``response_model=dict[str, Any]``).
_PYDANTIC = TypeAdapter(dict[str, Any])
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
JSON = b"application/json"


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer as the app sends it: ``headers`` are every header, names in lower case, in
    the order a Starlette ``Response`` puts them (its own, then content-length, content-type)."""

    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...]

    def response(self) -> Response:
        """As a Starlette ``Response`` (for FastAPI routes and exception handlers)."""
        response = Response(self.body, self.status)
        response.raw_headers = list(self.headers)
        return response

    async def send(self, send: Send) -> None:
        """Send it on an ASGI ``send``, as a Starlette ``Response`` would (the headers as a list
        of its own: a server or middleware may add to it)."""
        headers = list(self.headers)
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def answer_of(
    body: bytes,
    status: int,
    content_type: bytes = JSON,
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> Answer:
    """``body`` with the headers a Starlette ``Response`` of it sends (``extra`` first)."""
    length = (b"content-length", str(len(body)).encode())
    return Answer(status, body, (*extra, length, (b"content-type", content_type)))


def _refuse(value: Any) -> Any:
    """orjson's ``default``: refuse every type it does not write natively (pydantic will)."""
    raise TypeError(type(value).__name__)


def encode(content: dict[str, Any]) -> bytes:
    """``content`` as the JSON bytes FastAPI's ``dict[str, Any]`` response model sends."""
    try:
        return orjson.dumps(content, default=_refuse, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return _PYDANTIC.dump_json(content)


def json_answer(content: dict[str, Any], status: int = 200) -> Answer:
    """An ``application/json`` answer of ``content`` (see ``encode``)."""
    return answer_of(encode(content), status)
