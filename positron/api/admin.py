"""Admin routes: reload keys and policy, provider details. Each needs the ``admin`` permission on its action
(``p, admins, reload, admin, allow``) and writes an audit line, allowed or denied."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from positron.api.deps import CurrentBroker, CurrentContext, CurrentPrincipal
from positron.api.errors import error_response
from positron.api.schemas import ErrorResponse, ProviderInfo
from positron.api.system import provider_infos
from positron.broker import Broker
from positron.errors import ConfigError
from positron.provider import RateLimit
from positron.security.audit import AuditContext
from positron.security.auth import Principal

router = APIRouter(prefix="/v1/admin", tags=["admin"])
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
    403: {"model": ErrorResponse, "description": "The key lacks the admin permission for this action"},
}


class ReloadReport(BaseModel):
    keys: int = Field(description="API keys now known (config and keys file)")
    webhooks: int = Field(default=0, description="Webhook tokens now known (config webhooks)")
    policy: str = Field(description="Where the policy came from")
    rules: int = Field(description="Policy lines (rules and group links)")
    reloaded_at: str


class ProviderDetails(ProviderInfo):
    """What GET /v1/providers shows, plus the instance's settings (never a secret)."""

    allow_internal: bool
    weights: dict[str, float]
    max_concurrency: int
    rate_limits: list[RateLimit]
    calls: int = Field(description="Provider calls made since start (cache hits excluded)")


def admin(action: str) -> Callable[..., Awaitable[Principal]]:
    """The admin permission on ``action`` (the guard audits a refusal); the decision stays in the audit context
    for the route's own line."""

    async def dependency(broker: CurrentBroker, principal: CurrentPrincipal, context: CurrentContext) -> Principal:
        context.decision = broker.guard.authorize_admin(principal, action, context)
        return principal

    return dependency


def _audit(broker: Broker, context: AuditContext, action: str, status: int) -> None:
    assert context.decision is not None  # set by admin(action)
    broker.guard.audit_admin(context, action, status, context.decision)


@router.post(
    "/reload",
    summary="Reload API keys (config and keys file) and the access policy; the next request sees them",
    operation_id="admin_reload",
    response_model=ReloadReport,
    responses={**ERRORS, 422: {"model": ErrorResponse, "description": "The new keys or policy are invalid"}},
)
async def reload(
    broker: CurrentBroker, context: CurrentContext, _: Annotated[Principal, Depends(admin("reload"))]
) -> Any:
    try:
        report = ReloadReport(**broker.guard.reload())
    except ConfigError as exc:
        _audit(broker, context, "reload", 422)
        return error_response(422, "reload_failed", f"{exc.message}; the previous keys and policy stay")
    _audit(broker, context, "reload", 200)
    return report


@router.get(
    "/providers",
    summary="Every instance with its settings (never a secret)",
    operation_id="admin_providers",
    responses=ERRORS,
)
async def provider_details(
    broker: CurrentBroker, context: CurrentContext, _: Annotated[Principal, Depends(admin("providers"))]
) -> list[ProviderDetails]:
    _audit(broker, context, "providers", 200)
    details = []
    for info in await provider_infos(broker):
        inst = broker.engine.instances[info.name]
        cfg = inst.provider.config
        details.append(
            ProviderDetails(
                **info.model_dump(),
                allow_internal=cfg.allow_internal,
                weights=cfg.weights,
                max_concurrency=cfg.max_concurrency,
                rate_limits=cfg.rate_limits,
                calls=inst.calls,
            )
        )
    return details
