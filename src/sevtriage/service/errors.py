"""Turning errors into HTTP answers: bad input is a 4xx naming the field, never a 500."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from sevtriage.errors import InputError
from sevtriage.service.problems import BatchInputError, Problem
from sevtriage.store import TicketNotFound


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


def _body(problems: list[dict[str, Any]]) -> dict[str, Any]:
    return {"detail": _safe(problems)}


async def _input_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InputError)
    if isinstance(exc, BatchInputError):
        problems = [p.as_dict() for p in exc.problems]
    else:
        problems = [Problem.from_input_error(exc).as_dict()]
    return JSONResponse(_body(problems), status_code=getattr(exc, "status", 422))


def _field(loc: tuple[Any, ...] | list[Any]) -> str | None:
    names = [part for part in loc[1:] if isinstance(part, str)]
    return ".".join(names) or None


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "loc": list(error.get("loc", ())),
            "field": _field(error.get("loc", ())),
            "code": error.get("type", "invalid"),
            "msg": error.get("msg", "invalid"),
        }
        for error in exc.errors()
    ]
    return JSONResponse(_body(problems), status_code=422)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    problem: dict[str, Any] = {
        "loc": ["path", "ticket_id"],
        "field": "ticket_id",
        "code": "not_found",
        "msg": f"no ticket with id {str(exc)[:256]!r}",
    }
    return JSONResponse(_body([problem]), status_code=404)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "too_large",
        415: "unsupported_media_type",
    }
    problem: dict[str, Any] = {
        "loc": ["body"] if exc.status_code == 413 else [],
        "field": None,
        "code": code.get(exc.status_code, "http_error"),
        "msg": str(exc.detail),
    }
    return JSONResponse(_body([problem]), status_code=exc.status_code, headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(TicketNotFound, _not_found)
    app.add_exception_handler(HTTPException, _http_error)
