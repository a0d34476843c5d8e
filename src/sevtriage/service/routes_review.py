"""The agent review page at ``/review``: server-rendered, no front-end build.

Authentication: the login form takes an API token and stores it in an HttpOnly, SameSite=Strict
cookie; every form post is checked against it (and against a cross-site ``Origin``), and the
review is recorded under the token's name, exactly as ``POST /v1/tickets/{id}/review`` would.
"""

from __future__ import annotations

from datetime import datetime
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from sevtriage.errors import InputError
from sevtriage.service import tickets
from sevtriage.service.auth import COOKIE, actor_for, page_actor
from sevtriage.service.context import ServiceContext
from sevtriage.service.highlight import evidence_spans, highlight
from sevtriage.service.schemas import ReviewIn
from sevtriage.store import TicketNotFound

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(files("sevtriage.service").joinpath("templates")))
COOKIE_MAX_AGE = 12 * 3600


def _ctx(request: Request) -> ServiceContext:
    ctx = request.app.state.ctx
    assert isinstance(ctx, ServiceContext)
    return ctx


def _same_origin(request: Request) -> None:
    """Refuse a form posted from another site (belt and braces with the SameSite cookie)."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-site form post refused")


def _remaining(due: datetime | None, now: datetime) -> str:
    if due is None:
        return "no pending target"
    seconds = int((due - now).total_seconds())
    sign, seconds = ("overdue by " if seconds < 0 else ""), abs(seconds)
    hours, minutes = divmod(seconds // 60, 60)
    return f"{sign}{hours}h {minutes:02d}m"


def _card(ctx: ServiceContext, view: dict[str, Any], now: datetime) -> dict[str, Any]:
    ticket, reasons = view["ticket"], view["reasons"]
    due = ctx.sla.next_due_of(view["sla_status"])
    return {
        "id": view["id"],
        "severity": view["severity"],
        "severity_label": view["severity_label"],
        "confidence": view["confidence"],
        "needs_review": view["needs_review"],
        "source": view["source"],
        "plan": ticket.get("plan"),
        "subject": highlight(ticket.get("subject") or "", evidence_spans(reasons, "subject")),
        "body": highlight(ticket.get("body") or "", evidence_spans(reasons, "body")),
        "reasons": reasons,
        "due": due.isoformat() if due else None,
        "remaining": _remaining(due, now),
        "overdue": due is not None and due < now,
    }


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, message: str = "", error: str = "") -> Response:
    actor = page_actor(request)
    if actor is None:
        return templates.TemplateResponse(request, "login.html", {"error": error})
    ctx = _ctx(request)
    now = ctx.now()
    cards = [_card(ctx, view, now) for view in tickets.review_queue(ctx, limit=200)]
    context = {"actor": actor, "cards": cards, "message": message, "error": error, "now": now}
    return templates.TemplateResponse(request, "review.html", context)


@router.post("/review/login")
def login(request: Request, token: Annotated[str, Form(max_length=512)] = "") -> Response:
    _same_origin(request)
    if actor_for(token.strip(), request.app.state.settings.tokens) is None:
        return RedirectResponse("/review?error=" + quote("Unknown token."), status_code=303)
    response = RedirectResponse("/review", status_code=303)
    response.set_cookie(
        COOKIE,
        token.strip(),
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/review/logout")
def logout(request: Request) -> Response:
    _same_origin(request)
    response = RedirectResponse("/review", status_code=303)
    response.delete_cookie(COOKIE)
    return response


def _cookie_actor(request: Request) -> str:
    _same_origin(request)
    actor = page_actor(request)
    if actor is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "log in at /review first")
    return actor


@router.post("/review/{ticket_id}")
def review_form(
    request: Request,
    ticket_id: str,
    actor: Annotated[str, Depends(_cookie_actor)],
    action: Annotated[str, Form(max_length=16)],
    severity: Annotated[str, Form(max_length=4)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The page's confirm/override buttons; answers with a redirect back to the queue."""
    try:
        body = ReviewIn(action=action, severity=severity or None, reason=reason or None)  # type: ignore[arg-type]
        tickets.review(_ctx(request), ticket_id, body, actor)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"])
        return _back(error=f"{ticket_id}: {field}: {problem['msg']}")
    except InputError as exc:
        return _back(error=f"{ticket_id}: {exc}")
    except TicketNotFound:
        return _back(error=f"{ticket_id}: no such ticket")
    verb = "overridden" if action == "override" else "confirmed"
    return _back(message=f"{ticket_id}: severity {verb}.")


def _back(message: str = "", error: str = "") -> RedirectResponse:
    query = f"message={quote(message)}" if message else f"error={quote(error)}"
    return RedirectResponse(f"/review?{query}", status_code=303)
