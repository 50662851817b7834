"""What each HTTP request leaves behind besides its answer: log context, a trace span and request metrics.

A pure ASGI middleware, inside ``SecurityMiddleware`` (which chose the request id):

- every log record made while the request runs carries its ``request_id`` and ``client`` address
  (``positron.telemetry.logs``), uvicorn's access line included;
- a server span per request when tracing is on (``positron.telemetry.tracing``);
- ``positron_http_requests_total{route,method,status}`` and ``positron_http_request_seconds{route,method}``,
  labelled by the route *template* (``/v1/queries/{name}``) so a caller cannot grow the label set; a path that
  matched no route is ``unmatched``.

The client address is the one ``SecurityMiddleware`` decided for the audit line: the TCP peer, or, behind a proxy
listed in ``server.trusted_proxies``, the address that proxy put in ``X-Forwarded-For``.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from positron.api.middleware import request_id
from positron.telemetry import tracing
from positron.telemetry.logs import REQUEST
from positron.telemetry.metrics import Metrics

UNMATCHED = "unmatched"


def client_address(scope: Scope) -> str | None:
    audit = scope.get("state", {}).get("audit")
    if audit is not None:
        return str(audit.client) if audit.client else None
    client = scope.get("client")
    return str(client[0]) if client else None


def route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else UNMATCHED


class ObserveMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics | None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = client_address(scope)
        token = REQUEST.set((request_id(scope), client))
        started = time.monotonic()
        status = 500  # if the app fails before it answers

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            with tracing.request_span(scope["method"], scope["path"], scope.get("headers", []), client) as span:
                try:
                    await self.app(scope, receive, record_status)
                finally:
                    tracing.finish_request(span, route_template(scope), status)
        finally:
            REQUEST.reset(token)
            if self.metrics is not None:
                self.metrics.http_request(route_template(scope), scope["method"], status, time.monotonic() - started)
