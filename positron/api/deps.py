"""Dependencies shared by the routers: the broker and the authenticated principal.

They are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in a worker thread, which costs a
thread hand-off on every request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from positron.broker import Broker, Principal

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`")


async def get_broker(request: Request) -> Broker:
    broker: Broker = request.app.state.broker
    return broker


CurrentBroker = Annotated[Broker, Depends(get_broker)]


async def get_principal(
    broker: CurrentBroker, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    return broker.authenticate(credentials.credentials if credentials else None)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
