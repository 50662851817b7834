"""Dependencies shared by the routers: the broker, the request's audit context and the authenticated principal.

They are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a worker thread, which costs a
thread hand-off on every request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from positron.api.middleware import audit_context
from positron.broker import Broker, Principal
from positron.errors import AuthenticationFailed
from positron.security.audit import AuditContext, AuditRecord

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`")


async def get_broker(request: Request) -> Broker:
    broker: Broker = request.app.state.broker
    return broker


CurrentBroker = Annotated[Broker, Depends(get_broker)]


async def get_context(request: Request) -> AuditContext:
    return audit_context(request.scope)


CurrentContext = Annotated[AuditContext, Depends(get_context)]


async def get_principal(
    request: Request,
    broker: CurrentBroker,
    context: CurrentContext,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    try:
        principal = broker.authenticate(credentials.credentials if credentials else None)
    except AuthenticationFailed:  # audited (never the token); the caller learns only "invalid"
        broker.guard.audit.write(AuditRecord("auth", context, 401, "unauthenticated", path=request.url.path))
        raise
    context.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
