"""What happens to a request before the app parses it: the API key, then the body size.

:class:`RequestGuard` is plain ASGI middleware, so it runs before FastAPI reads the body:

1. a POST (any method but GET, HEAD, OPTIONS) without the right ``X-API-Key`` header is
   refused with 401 from its headers alone (constant-time compare);
2. a body larger than the limit is refused with 413: at once when its ``Content-Length``
   says so, else as soon as the streamed (chunked) bytes pass the limit;
3. otherwise the body, read whole, is handed to the app.

A refused body is never buffered; the server discards what the client still sends. How long
a client may take to send its request is the server's business (:mod:`simcse.serve.server`).
Refusals are JSON, ``{"detail": "..."}``, like FastAPI's own.
"""

from __future__ import annotations

import secrets

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

OPEN_METHODS = ("GET", "HEAD", "OPTIONS")  # the page, /health and /docs need no key


class RequestGuard:
    """ASGI middleware: ``api_key`` (None = no key needed) and ``max_body_bytes`` per request."""

    def __init__(self, app: ASGIApp, api_key: str | None, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes
        self.api_key = None if api_key is None else api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self.api_key is not None and scope["method"] not in OPEN_METHODS:
            given = headers.get("x-api-key", "").encode("latin-1")
            if not secrets.compare_digest(given, self.api_key):
                await _refuse(401, "missing or wrong X-API-Key header", scope, receive, send)
                return
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await _refuse(413, self._too_large(declared), scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left; nobody to answer
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await _refuse(413, self._too_large("more than that"), scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)

    def _too_large(self, size: str) -> str:
        return f"request body too large: at most {self.max_body_bytes} bytes, got {size[:20]}"


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body already read, then defers to the server's."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _refuse(status: int, detail: str, scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)


__all__ = ["OPEN_METHODS", "RequestGuard"]
