"""Request size limit, enforced before the body is parsed: a declared Content-Length over the limit
is refused at once, and a streamed (chunked) body is cut off as soon as it passes the limit.

The refusals are the same 413 problem (``refusal``; ``BodyTooLarge`` through the app's error
handling); the one sent before the body is read also closes the connection. ``POST /v1/tickets``
checks the same (``declared_too_large``, ``count_body``) in its fast path (``service.fastpath``).
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sevtriage.service.encoding import Answer
from sevtriage.service.errors import http_error_answer


class BodyTooLarge(HTTPException):
    """Raised while a streamed body is read; the app's HTTP error handling answers 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body exceeds {max_bytes} bytes; send smaller batches")


def refusal(max_bytes: int) -> Answer:
    """The answer to a body declared over the limit: ``BodyTooLarge``'s 413, with the connection
    closed (the body is never read)."""
    answer = http_error_answer(BodyTooLarge(max_bytes))
    return Answer(answer.status, answer.body, (*answer.headers, (b"connection", b"close")))


def declared_too_large(headers: Iterable[tuple[bytes, bytes]], max_bytes: int) -> bool:
    """Whether any Content-Length header is not a number, or over ``max_bytes``."""
    return any(
        name == b"content-length" and (not value.isdigit() or int(value) > max_bytes)
        for name, value in headers
    )


def count_body(message: Message, received: int, max_bytes: int) -> int:
    """The bytes received after ``message`` (``received`` before it); ``BodyTooLarge`` past
    ``max_bytes``."""
    if message["type"] == "http.request":
        received += len(message.get("body", b""))
        if received > max_bytes:
            raise BodyTooLarge(max_bytes)
    return received


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refusal = refusal(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if declared_too_large(scope.get("headers", []), self.max_bytes):
            await self.refusal.send(send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received = count_body(message, received, self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)
