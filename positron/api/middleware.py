"""HTTP hardening as one pure ASGI middleware: request ids, the client address, security headers, the request body
limit, a 500 that still carries all of them, and the audit line of a request that wrote none itself.

- ``X-Request-ID``: a caller's id is kept when it is short and plain (``[A-Za-z0-9._:-]``, ≤ 128), else a new
  one is made; it is in ``request.state.request_id``, on every response and in the audit log.
- Headers on every response: ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``, ``Referrer-Policy:
  no-referrer``, ``Cache-Control: no-store`` (answers are about people and hosts; not on static assets), and a
  Content-Security-Policy that allows nothing, except on ``/docs`` where Swagger UI's own script, styles and
  images may load from here.
- Bodies over ``security.max_body_bytes``: 413, from ``Content-Length`` before anything is read, or as soon as a
  streamed body passes the limit.
- The client address is the peer's, or, when the peer is one of ``server.trusted_proxies``, the right-most
  X-Forwarded-For address that is not a trusted proxy (a client can prepend anything; only what the proxies
  appended is trusted). It goes into the request's ``AuditContext`` (``scope["state"]["audit"]``).
- An unexpected exception becomes a 500 here, inside the headers: ``{"error": {"code": "internal_error",
  "message": "internal error (request id …)"}}``; its traceback goes to the log, never to the client.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import uuid
from collections.abc import Sequence
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from positron.security.audit import UNAUDITED, AuditContext, AuditLog, AuditRecord, decision_for

log = logging.getLogger("positron.api")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

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


def audit_context(scope: Scope) -> AuditContext:
    """The request's audit context (a fresh one outside the middleware)."""
    state: dict[str, Any] = scope.setdefault("state", {})
    context = state.get("audit")
    if not isinstance(context, AuditContext):
        context = state["audit"] = AuditContext(request_id(scope))
    return context


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(scope: Scope, proxies: Sequence[Network]) -> str | None:
    """The peer, or behind trusted proxies the right-most X-Forwarded-For hop that is not one of them."""
    peer = scope.get("client")
    address = str(peer[0]) if peer else None
    if address is None or not proxies or not _trusted(address, proxies):
        return address
    forwarded = [hop.strip() for hop in (_header(scope, b"x-forwarded-for") or "").split(",") if hop.strip()]
    for hop in reversed(forwarded):
        if not _trusted(hop, proxies):
            return hop[:64]
    return forwarded[0][:64] if forwarded else address


class SecurityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        audit: AuditLog | None = None,
        trusted_proxies: Sequence[Network] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.audit = audit
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        rid = given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        context = scope["state"]["audit"] = AuditContext(rid, client_address(scope, self.trusted_proxies))
        path = scope.get("path", "")
        csp = DOCS_CSP if path.startswith("/docs") else LOOKUP_CSP if path == "/" else API_CSP
        extra = [*HEADERS, (b"content-security-policy", csp.encode()), (b"x-request-id", rid.encode())]
        if not path.startswith("/static/"):  # Swagger UI's assets may be cached
            extra.append(NO_STORE)
        sent: list[int] = []  # the response's status, once it has started

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent.append(message["status"])
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            length = _header(scope, b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                await self._too_large(send_with_headers)
            else:
                await self._serve(scope, receive, send_with_headers, sent)
        finally:
            self._audit_unrecorded(context, scope, sent[0] if sent else 500)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, sent: list[int]) -> None:
        try:
            await self.app(scope, self._limited(receive), send)
        except Exception as exc:
            if sent:  # the response has started: nothing left to answer with
                raise
            rid = request_id(scope)
            log.error(
                "unhandled %s on %s %s (request %s)",
                type(exc).__name__,
                scope["method"],
                scope["path"],
                rid,
                exc_info=exc,
            )
            body = {"error": {"code": "internal_error", "message": f"internal error (request id {rid})"}}
            await self._send_json(send, 500, body)

    def _audit_unrecorded(self, context: AuditContext, scope: Scope, status: int) -> None:
        """The request's own line, when nothing it reached wrote one (see positron.security.audit)."""
        path = scope.get("path", "")
        if self.audit is None or context.lines or path == "/" or path.startswith(UNAUDITED):
            return  # the lookup page at / is a static file, like the docs
        decided = context.decision
        if decided is not None and status not in (401, 403):
            decision, rule = ("allowed" if decided else "denied"), decided.rule
        else:
            decision, rule = decision_for(status), None
        record = AuditRecord("request", context, status, decision, rule=rule, query=context.query, path=path)
        self.audit.write(record)

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
        await self._send_json(send, 413, {"error": {"code": "too_large", "message": self._message()}})

    @staticmethod
    async def _send_json(send: Send, status: int, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
