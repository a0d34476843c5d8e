"""Turning errors into HTTP answers: bad input is a 4xx naming the field, never a 500.

Each kind of error has one pure function that gives its whole answer (status, body, headers: an
``encoding.Answer``). The app's exception handlers send what these give, and so does the
``POST /v1/tickets`` fast path (``service.fastpath``), which finds the function for an exception
with ``answer_for``, as Starlette finds a handler: along the exception's MRO. An exception none of
them takes is a 500: ``SERVER_ERROR``, the answer Starlette's ``ServerErrorMiddleware`` sends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from sevtriage.errors import InputError
from sevtriage.service.encoding import Answer, answer_of
from sevtriage.service.problems import BatchInputError, Problem
from sevtriage.store import TicketNotFound

SERVER_ERROR = answer_of(b"Internal Server Error", 500, b"text/plain; charset=utf-8")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


def _safe(value: Any) -> Any:
    """``value`` with lone surrogates escaped in every string: an answer that echoes a bad key
    or value must still encode as UTF-8."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [_safe(v) for v in value]
    if isinstance(value, dict):
        return {_safe(k): _safe(v) for k, v in value.items()}
    return value


def problems_answer(
    problems: list[dict[str, Any]],
    status: int,
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> Answer:
    """``{"detail": problems}`` as Starlette's ``JSONResponse`` writes it (compact, UTF-8)."""
    body = json.dumps(
        {"detail": _safe(problems)}, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    ).encode("utf-8")
    return answer_of(body, status, extra=extra)


def input_error_answer(exc: InputError) -> Answer:
    """A refused input (422, or the error class's own ``status``): every problem it holds."""
    if isinstance(exc, BatchInputError):
        problems = [p.as_dict() for p in exc.problems]
    else:
        problems = [Problem.from_input_error(exc).as_dict()]
    return problems_answer(problems, getattr(exc, "status", 422))


def _field(loc: tuple[Any, ...] | list[Any]) -> str | None:
    names = [part for part in loc[1:] if isinstance(part, str)]
    return ".".join(names) or None


def validation_error_answer(exc: RequestValidationError) -> Answer:
    """A request FastAPI's validation refused (422), one problem per error."""
    problems = [
        {
            "loc": list(error.get("loc", ())),
            "field": _field(error.get("loc", ())),
            "code": error.get("type", "invalid"),
            "msg": error.get("msg", "invalid"),
        }
        for error in exc.errors()
    ]
    return problems_answer(problems, 422)


def not_found_answer(exc: TicketNotFound) -> Answer:
    problem: dict[str, Any] = {
        "loc": ["path", "ticket_id"],
        "field": "ticket_id",
        "code": "not_found",
        "msg": f"no ticket with id {str(exc)[:256]!r}",
    }
    return problems_answer([problem], 404)


def http_error_answer(exc: HTTPException) -> Answer:
    """An ``HTTPException`` (401, 404, 405, 413, ...) with its headers (``WWW-Authenticate``)."""
    problem: dict[str, Any] = {
        "loc": ["body"] if exc.status_code == 413 else [],
        "field": None,
        "code": _HTTP_CODES.get(exc.status_code, "http_error"),
        "msg": str(exc.detail),
    }
    extra = tuple(
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in (exc.headers or {}).items()
    )
    return problems_answer([problem], exc.status_code, extra)


_ANSWERS: dict[type[Exception], Callable[[Any], Answer]] = {
    InputError: input_error_answer,
    RequestValidationError: validation_error_answer,
    TicketNotFound: not_found_answer,
    HTTPException: http_error_answer,
}


def answer_for(exc: Exception) -> Answer | None:
    """The answer to ``exc`` (the function of the nearest class in its MRO), or None: a 500."""
    for cls in type(exc).__mro__:
        answer = _ANSWERS.get(cls)
        if answer is not None:
            return answer(exc)
    return None


async def _handle(request: Request, exc: Exception) -> Response:
    answer = answer_for(exc)
    assert answer is not None  # registered only for the classes of ``_ANSWERS``
    return answer.response()


def install_error_handlers(app: FastAPI) -> None:
    for cls in _ANSWERS:
        app.add_exception_handler(cls, _handle)
