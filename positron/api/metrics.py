"""``GET /metrics``: the broker's Prometheus metrics in the text exposition format.

No key by default, like ``/health``: the metrics hold instance names, query names and counts, never a value asked
about or a secret, and Prometheus scrapers rarely carry bearer tokens. ``metrics.public: false`` requires an API
key (``Authorization: Bearer``, any principal); ``metrics.enabled: false`` removes the route's data (404).
Not in the OpenAPI spec: it is for scrapers, not API clients.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from positron.api.deps import CurrentBroker, authenticate
from positron.telemetry.metrics import CONTENT_TYPE_LATEST

router = APIRouter()
_bearer = HTTPBearer(auto_error=False)


@router.get("/metrics", include_in_schema=False)
async def metrics(
    request: Request,
    broker: CurrentBroker,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Response:
    if broker.metrics is None:
        raise HTTPException(404, "metrics are disabled (metrics.enabled: false)")
    if not broker.settings.metrics.public:
        authenticate(request, credentials.credentials if credentials else None)  # audited like any other key
    return Response(broker.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
