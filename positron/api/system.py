"""Liveness, readiness and the provider list."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from positron import __version__
from positron.api.deps import CurrentBroker, CurrentPrincipal
from positron.api.schemas import ErrorResponse, ProviderInfo, QuotaOut
from positron.broker import Broker
from positron.security.egress import default_max_tlp

router = APIRouter()


@router.get("/health", tags=["system"], summary="Liveness: the process answers")
async def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get(
    "/ready",
    tags=["system"],
    summary="Readiness: this process can serve (every provider marked required: true is healthy)",
    responses={503: {"description": "A provider marked required is down"}},
)
async def ready(broker: CurrentBroker) -> JSONResponse:
    """Open without a key, so it says only ready or not: which instances exist and how they are is in
    GET /v1/providers, behind a key. An optional source being down (VirusTotal) never makes a replica unready:
    queries still answer, with that source's status."""
    is_ready = await broker.ready()
    body: dict[str, Any] = {"ready": is_ready}
    return JSONResponse(body, status_code=200 if is_ready else 503)


@router.get(
    "/v1/providers",
    tags=["providers"],
    summary="The provider instances your key may use, and their health",
    responses={401: {"model": ErrorResponse, "description": "Missing or invalid API key"}},
)
async def providers(broker: CurrentBroker, principal: CurrentPrincipal) -> list[ProviderInfo]:
    infos = await provider_infos(broker)
    return [info for info in infos if broker.guard.usable(principal, info.name)]  # what this key's queries reach


async def provider_infos(broker: Broker) -> list[ProviderInfo]:
    """Every instance's public facts, health and quota (GET /v1/providers filters them; admin adds settings)."""
    report = await broker.health()
    instances = broker.engine.instances
    quotas = dict(zip(instances, await asyncio.gather(*(i.limiter.report() for i in instances.values())), strict=True))
    return [
        ProviderInfo(
            name=name,
            type=inst.provider.type_name,
            queries=inst.provider.serves(),
            healthy=report[name].ok,
            health=report[name].detail,
            egress=inst.provider.config.egress,
            max_tlp=inst.provider.config.max_tlp or default_max_tlp(inst.provider.config.egress),
            weight=inst.provider.config.weight,
            timeout_s=inst.provider.config.timeout_s,
            quota=[QuotaOut(requests=q.requests, per_s=q.per_s, remaining=q.remaining) for q in quotas[name].buckets],
            paused_s=quotas[name].paused_s,
            circuit=inst.circuit.state,
        )
        for name, inst in instances.items()
    ]
