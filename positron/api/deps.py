"""Dependencies shared by the routers: the broker and the authenticated principal.

They are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a worker thread, which costs a
thread hand-off on every request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from positron.api.middleware import request_id
from positron.broker import Broker, Principal
from positron.errors import AuthenticationFailed

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`")


async def get_broker(request: Request) -> Broker:
    broker: Broker = request.app.state.broker
    return broker


CurrentBroker = Annotated[Broker, Depends(get_broker)]


async def get_principal(
    request: Request,
    broker: CurrentBroker,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    try:
        return broker.authenticate(credentials.credentials if credentials else None)
    except AuthenticationFailed:  # audited (never the token); the caller learns only "invalid"
        record = {"request_id": request_id(request.scope), "path": request.url.path, "decision": "unauthenticated"}
        broker.guard.audit.write("auth", {**record, "status": 401})
        raise


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
