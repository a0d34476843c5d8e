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


def token_of(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, or None."""
    scheme, _, value = (authorization or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def bearer_token(request: Request) -> str | None:
    return token_of(request.headers.get("authorization"))


def writer_of(authorization: str | None, tokens: dict[str, str]) -> str:
    """The actor behind an ``Authorization`` header value, or 401 (``HTTPException``)."""
    actor = actor_for(token_of(authorization), tokens)
    if actor is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="a valid bearer token is required for writes (see SEVTRIAGE_API_TOKENS)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return actor


def require_writer(request: Request) -> str:
    """FastAPI dependency: the actor behind the request's bearer token, or 401."""
    return writer_of(request.headers.get("authorization"), request.app.state.settings.tokens)


def page_actor(request: Request) -> str | None:
    """The actor behind the review page's cookie, or None (the page then shows the login form)."""
    return actor_for(request.cookies.get(COOKIE), request.app.state.settings.tokens)
