"""HTTP hardening as one pure ASGI middleware: request ids, security headers, the request body limit.

- ``X-Request-ID``: a caller's id is kept when it is short and plain (``[A-Za-z0-9._:-]``, ≤ 128), else a new
  one is made; it is in ``request.state.request_id``, on every response and in the audit log.
- Headers on every response: ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy:
  no-referrer``, ``Cache-Control: no-store`` (answers are about people and hosts; not on static assets), and a
  Content-Security-Policy that allows nothing, except on ``/docs`` where Swagger UI's own script, styles and
  images may load from here.
- Bodies over ``security.max_body_bytes``: 413, from ``Content-Length`` before anything is read, or as soon as a
  streamed body passes the limit.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
API_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)
# the lookup page (positron/api/lookup.py): its own script, styles and API calls, nothing inline
LOOKUP_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
NO_STORE = (b"cache-control", b"no-store")


def request_id(scope: Scope) -> str:
    """The request id the middleware chose (``-`` outside it)."""
    state: dict[str, Any] = scope.get("state") or {}
    return str(state.get("request_id", "-"))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        rid = given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        path = scope.get("path", "")
        csp = DOCS_CSP if path.startswith("/docs") else LOOKUP_CSP if path == "/" else API_CSP
        extra = [*HEADERS, (b"content-security-policy", csp.encode()), (b"x-request-id", rid.encode())]
        if not path.startswith("/static/"):  # Swagger UI's assets may be cached
            extra.append(NO_STORE)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await self._too_large(send_with_headers)
            return
        await self.app(scope, self._limited(receive), send_with_headers)

    def _limited(self, receive: Receive) -> Receive:
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    # FastAPI re-raises HTTPException from body reading; the app's handler answers 413
                    raise HTTPException(413, self._message())
            return message

        return limited

    def _message(self) -> str:
        return f"the request body is larger than {self.max_body_bytes} bytes"

    async def _too_large(self, send: Send) -> None:
        body = json.dumps({"error": {"code": "too_large", "message": self._message()}}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
