"""Liveness, readiness and the provider list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from positron import __version__
from positron.api.deps import CurrentBroker, CurrentPrincipal
from positron.api.schemas import ProviderInfo

router = APIRouter()


@router.get("/health", tags=["system"], summary="Liveness: the process answers")
async def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/ready", tags=["system"], summary="Readiness: config loaded and at least one provider usable")
async def ready(broker: CurrentBroker) -> JSONResponse:
    report = await broker.health()
    usable = sorted(name for name, h in report.items() if h.ok)
    body: dict[str, Any] = {"ready": bool(usable), "providers": {n: h.ok for n, h in sorted(report.items())}}
    return JSONResponse(body, status_code=200 if usable else 503)


@router.get("/v1/providers", tags=["providers"], summary="Configured provider instances and their health")
async def providers(broker: CurrentBroker, principal: CurrentPrincipal) -> list[ProviderInfo]:
    report = await broker.health()
    return [
        ProviderInfo(
            name=name,
            type=inst.provider.type_name,
            queries=inst.provider.serves(),
            healthy=report[name].ok,
            health=report[name].detail,
            egress=inst.provider.config.egress,
            weight=inst.provider.config.weight,
            timeout_s=inst.provider.config.timeout_s,
        )
        for name, inst in broker.engine.instances.items()
    ]
