"""Who is writing: a bearer token (API) or the same token in a cookie (the review page).

Tokens come from ``SEVTRIAGE_API_TOKENS``; the token's name is the actor recorded by the audit.
The cookie is HttpOnly and SameSite=Strict, so a form on another site cannot post with it.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status

COOKIE = "sevtriage_token"


def actor_for(token: str | None, tokens: dict[str, str]) -> str | None:
    """The name of ``token``, compared in constant time against every known token."""
    if not token:
        return None
    found: str | None = None
    for known, name in tokens.items():
        if hmac.compare_digest(known.encode(), token.encode()):
            found = name
    return found


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def require_writer(request: Request) -> str:
    """FastAPI dependency: the actor behind the request's bearer token, or 401."""
    actor = actor_for(bearer_token(request), request.app.state.settings.tokens)
    if actor is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="a valid bearer token is required for writes (see SEVTRIAGE_API_TOKENS)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return actor


def page_actor(request: Request) -> str | None:
    """The actor behind the review page's cookie, or None (the page then shows the login form)."""
    return actor_for(request.cookies.get(COOKIE), request.app.state.settings.tokens)
