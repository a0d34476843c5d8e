"""The JSON API (``/v1``), health and metrics. Handlers are plain functions: FastAPI runs them in
its threadpool, where triage and database work belong (``POST /v1/tickets``, the busiest route,
hops to a thread itself, and is served by ``service.fastpath`` ahead of FastAPI: its handler here
documents it and answers it the same way). Writes need a bearer token."""

from __future__ import annotations

from typing import Annotated, Any

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse

from sevtriage.errors import InputError
from sevtriage.service import escalations, tickets
from sevtriage.service.auth import require_writer
from sevtriage.service.context import ServiceContext
from sevtriage.service.encoding import Answer, json_answer
from sevtriage.service.intake import intake
from sevtriage.service.metrics import CONTENT_TYPE
from sevtriage.service.problems import BatchInputError, Problem
from sevtriage.service.schemas import (
    TICKET_EXAMPLE,
    AwareDatetime,
    EscalationRequestIn,
    EventIn,
    ReviewIn,
    decode_json_body,
    require_json_media_type,
    text_problem,
)

router = APIRouter()


# Both dependencies are async on purpose: they only read memory, and FastAPI would run a plain
# function in its threadpool (a thread hop per dependency per request: most of a 1 ms refusal).
async def writer(request: Request) -> str:
    """The actor behind the bearer token (``auth.require_writer``), or 401."""
    return require_writer(request)


Writer = Annotated[str, Depends(writer)]


async def context(request: Request) -> ServiceContext:
    """The context in service, read once per request (a reload cannot change it mid-request)."""
    ctx = request.app.state.ctx
    assert isinstance(ctx, ServiceContext)
    return ctx


Ctx = Annotated[ServiceContext, Depends(context)]


async def json_payload(request: Request) -> Any:
    """The request body as JSON, read and checked here rather than by FastAPI, so that every
    broken body is a 4xx problem saying what is wrong (see ``schemas.decode_json_body``)."""
    require_json_media_type(request.headers.get("content-type"))
    return decode_json_body(await request.body())


_TICKETS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "object", "title": "one ticket"},
                        {"type": "array", "items": {"type": "object"}, "title": "a batch"},
                    ]
                },
                "examples": {
                    "one": {"summary": "one ticket", "value": TICKET_EXAMPLE},
                    "batch": {"summary": "a batch", "value": [TICKET_EXAMPLE]},
                },
            }
        },
    }
}


def _refuse_unstorable(ctx: ServiceContext, records: list[Any]) -> None:
    """Refuse the request if any record holds text the store cannot keep (NUL, lone surrogates)
    or nests too deep; the other records' ticket problems are listed too, all at once."""
    index = (lambda i: i) if len(records) > 1 else (lambda i: None)
    bad = {i: e for i, r in enumerate(records) if (e := text_problem(r)) is not None}
    if not bad:
        return
    problems: list[Problem] = []
    for i, record in enumerate(records):
        error = bad.get(i)
        if error is None:
            try:
                ctx.triager.parse(record)
                continue
            except InputError as exc:
                error = exc
        problems.append(Problem.from_input_error(error, index(i)))
    raise BatchInputError(problems)


@router.post(
    "/v1/tickets",
    tags=["tickets"],
    summary="Triage and store one ticket (an object) or a batch (an array)",
    # Documents the answer; the handler returns its bytes itself (see ``service.encoding``).
    response_model=dict[str, Any],
    responses={201: {"description": "A single ticket was created"}, 422: {}, 413: {}, 415: {}},
    openapi_extra=_TICKETS_BODY,
)
async def post_tickets(request: Request) -> Response:
    """Each ticket is validated, triaged (severity, reasons), given SLA deadlines and stored.

    The same id with the same content is answered from the store (``status: unchanged``); with
    a changed content it is re-triaged and recorded as an ``update`` decision. A batch is refused
    as a whole (422, every problem listed with its index and field) if any ticket is invalid.
    """
    # The server answers this route in ``service.fastpath`` before FastAPI sees the request;
    # this handler documents it and answers it the same way when the app is built without it.
    # It resolves what the other routes take as dependencies itself, in the same order
    # (context, token, body): resolving them as FastAPI dependencies cost 0.03-0.05 ms of CPU
    # per request.
    ctx = await context(request)
    actor = require_writer(request)
    payload = await json_payload(request)
    return (await tickets_answer(ctx, actor, payload)).response()


async def tickets_answer(
    ctx: ServiceContext, actor: str, payload: Any, *, inline: bool = False
) -> Answer:
    """The answer to ``payload`` (one ticket or a batch), posted by ``actor``: the triage and
    database work. A batch runs in the threadpool. One ticket goes through the intake lane where
    there is one (``ServiceContext.intake_lane``), the threadpool where not; with ``inline``
    (the caller's say: see ``service.fastpath``) it runs right here, on the event loop's thread,
    if there is a lane and no request of this process runs in a thread."""
    if isinstance(payload, list):
        return await to_thread.run_sync(_post_tickets, ctx, actor, payload)
    lane = ctx.intake_lane
    if inline and lane is not None and _no_thread_busy(lane):
        return _post_tickets(ctx, actor, payload)
    return await to_thread.run_sync(_post_tickets, ctx, actor, payload, limiter=lane)


def _no_thread_busy(lane: CapacityLimiter) -> bool:
    """Whether no request of this process runs in a thread (the lane's or the threadpool's):
    then none of them holds the store's write lock, and none can start before the loop does."""
    return (
        lane.borrowed_tokens == 0
        and to_thread.current_default_thread_limiter().borrowed_tokens == 0
    )


def _post_tickets(ctx: ServiceContext, actor: str, payload: Any) -> Answer:
    records = payload if isinstance(payload, list) else [payload]
    if not records:
        raise InputError("empty_batch", "the batch is empty", None)
    if len(records) > ctx.settings.max_batch:
        raise InputError(
            "too_large", f"{len(records)} tickets; the limit is {ctx.settings.max_batch}", None
        )
    _refuse_unstorable(ctx, records)
    answers = intake(ctx, records, actor)
    if isinstance(payload, list):
        return json_answer({"tickets": answers})
    return json_answer(answers[0], 201 if answers[0]["status"] == "created" else 200)


@router.get("/v1/tickets/{ticket_id:path}", tags=["tickets"], summary="A ticket and its history")
def get_ticket(ctx: Ctx, ticket_id: str) -> dict[str, Any]:
    """Current severity, every decision (intake, updates, reviews, escalations), the clock's
    events, reviews, escalations, and the SLA status at now."""
    return tickets.ticket_view(ctx, ticket_id)


@router.post(
    "/v1/tickets/{ticket_id:path}/events", tags=["tickets"], summary="Record a clock event"
)
def post_event(ctx: Ctx, actor: Writer, ticket_id: str, event: EventIn) -> dict[str, Any]:
    """first_response, waiting_on_customer (pauses the clock), customer_replied (resumes it),
    resolved, reopened. Answers the ticket with its SLA status; 409 if the clock refuses."""
    return tickets.add_event(ctx, ticket_id, event, actor)


@router.post("/v1/tickets/{ticket_id:path}/review", tags=["reviews"], summary="Confirm or override")
def post_review(ctx: Ctx, actor: Writer, ticket_id: str, review: ReviewIn) -> dict[str, Any]:
    """An override needs a reason; the SLA targets are recomputed for the new severity from the
    original creation time (paused time kept). The override becomes a labelled example."""
    return tickets.review(ctx, ticket_id, review, actor)


@router.post(
    "/v1/tickets/{ticket_id:path}/escalation-requests",
    tags=["escalations"],
    summary="A customer's request to escalate",
)
def post_escalation_request(
    ctx: Ctx, actor: Writer, ticket_id: str, request: EscalationRequestIn
) -> dict[str, Any]:
    """Business+ only (other plans get a 403 with the reason). The stated impact is re-scored by
    the severity rules; a more severe result is applied. Every request is recorded."""
    return escalations.request_escalation(ctx, ticket_id, request, actor)


@router.get("/v1/escalations", tags=["escalations"], summary="Run the SLA sweep")
def get_escalations(
    ctx: Ctx,
    actor: Writer,
    at: Annotated[
        AwareDatetime | None, Query(description="Sweep time (ISO-8601 with offset)")
    ] = None,
) -> dict[str, Any]:
    """Escalates breached or at-risk targets of open tickets at ``at`` (default: now). Each
    escalation is recorded once: running the sweep again (on any replica) escalates nothing twice.
    It writes, so it needs a token."""
    return escalations.sweep(ctx, at, actor)


@router.get("/v1/review-queue", tags=["reviews"], summary="Tickets waiting for an agent")
def get_review_queue(ctx: Ctx, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """Open tickets that need review or whose confidence is low, oldest deadline first."""
    return {"tickets": tickets.review_queue(ctx, limit)}


@router.get("/healthz", tags=["ops"], summary="Liveness and database check")
def healthz(ctx: Ctx, request: Request) -> dict[str, Any]:
    """``ok`` while the database answers; the versions in service and the last refused reload
    (a refused reload leaves the service healthy on its last good rules and model)."""
    ctx.store.count_tickets()
    last_error = request.app.state.reloader.last_error
    return {"status": "ok", "versions": ctx.versions, "last_reload_error": last_error}


@router.get(
    "/metrics", tags=["ops"], summary="Prometheus metrics", response_class=PlainTextResponse
)
def metrics(ctx: Ctx) -> Response:
    return Response(ctx.metrics.exposition(), media_type=CONTENT_TYPE)
