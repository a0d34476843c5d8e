"""Operations: ``POST /v1/admin/reload`` (load the rules and model again, keep the last good ones
if refused) and ``GET /v1/versions`` (what is in service, and the last refused reload).

Reloading needs an admin token (``SEVTRIAGE_ADMIN_TOKENS``), not just a writer's: an intake bot
that may post tickets may not make the service re-read its files. Without admin tokens the HTTP
reload is off and SIGHUP (sent by whoever runs the process) is the way to reload.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse

from sevtriage.service.auth import actor_for, bearer_token
from sevtriage.service.context import Reloader, ReloadRefused
from sevtriage.service.settings import ADMIN_TOKENS_ENV

router = APIRouter()


def require_admin(request: Request) -> str:
    """FastAPI dependency: the admin behind the bearer token; 401 for no or an unknown token,
    403 for a writer's token or when no admin tokens are configured."""
    settings = request.app.state.settings
    if not settings.admin_tokens:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"reloading over HTTP is off: set {ADMIN_TOKENS_ENV} (or send SIGHUP to the "
            "server process)",
        )
    token = bearer_token(request)
    actor = actor_for(token, settings.admin_tokens)
    if actor is not None:
        return actor
    if actor_for(token, settings.tokens) is not None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"this token may write but not reload; admin tokens are in {ADMIN_TOKENS_ENV}",
        )
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail=f"an admin bearer token is required (see {ADMIN_TOKENS_ENV})",
        headers={"WWW-Authenticate": "Bearer"},
    )


def reloader(request: Request) -> Reloader:
    found = request.app.state.reloader
    assert isinstance(found, Reloader)
    return found


Admin = Annotated[str, Depends(require_admin)]
ReloaderDep = Annotated[Reloader, Depends(reloader)]


@router.post(
    "/v1/admin/reload",
    tags=["ops"],
    summary="Load the rules and model again; keep the last good ones if refused",
    responses={
        200: {"description": "Reloaded: the versions now in service, and before"},
        409: {"description": "Refused: every problem with its file; the old versions still serve"},
    },
)
def post_reload(reloads: ReloaderDep, actor: Admin) -> Any:
    """Rebuild the triager from the configured rules folder and model file (and the SLA policies
    in the rules folder). Requests already running finish on the old ones; later requests get
    the new ones. A corrupt, truncated or unlocked file refuses the whole reload (409, with
    ``versions`` still in service). SIGHUP does the same."""
    try:
        return reloads.reload(f"POST /v1/admin/reload by {actor}")
    except ReloadRefused as exc:
        body = {"status": "refused", "detail": exc.problems, "versions": exc.in_service}
        return JSONResponse(body, status_code=status.HTTP_409_CONFLICT)


@router.get("/v1/versions", tags=["ops"], summary="Versions in service and the last reload")
def get_versions(reloads: ReloaderDep) -> dict[str, Any]:
    """The rules, model and SLA policy versions answering requests now, when they were loaded,
    how many reloads succeeded, and the last refused reload (null once a later one succeeds)."""
    return reloads.status()
