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
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import TypeAdapter
from starlette.responses import Response

# What FastAPI serialises a ``dict[str, Any]`` answer with (``response_model=dict[str, Any]``).
_PYDANTIC = TypeAdapter(dict[str, Any])
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _refuse(value: Any) -> Any:
    """orjson's ``default``: refuse every type it does not write natively (pydantic will)."""
    raise TypeError(type(value).__name__)


def encode(content: dict[str, Any]) -> bytes:
    """``content`` as the JSON bytes FastAPI's ``dict[str, Any]`` response model sends."""
    try:
        return orjson.dumps(content, default=_refuse, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return _PYDANTIC.dump_json(content)


def json_response(content: dict[str, Any], status_code: int = 200) -> Response:
    """An ``application/json`` answer of ``content`` (see ``encode``)."""
    return Response(encode(content), status_code=status_code, media_type="application/json")
