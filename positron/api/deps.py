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


def authenticate(request: Request, token: str | None) -> Principal:
    """The caller's principal, kept in the request's audit context; a refusal is audited (never the token) and
    the caller learns only "invalid"."""
    context = audit_context(request.scope)
    if context.principal is not None:  # already authenticated on this request (JsonRoute does it first)
        return context.principal
    broker: Broker = request.app.state.broker
    try:
        principal = broker.authenticate(token)
    except AuthenticationFailed:
        broker.guard.audit.write(AuditRecord("auth", context, 401, "unauthenticated", path=request.url.path))
        raise
    context.principal = principal
    return principal


async def get_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    return authenticate(request, credentials.credentials if credentials else None)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
