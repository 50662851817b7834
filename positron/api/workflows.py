"""Workflows over many lookups: POST /v1/batch (JSON, or NDJSON streamed as results finish) and POST /v1/enrich
(observables out of a raw alert such as a Splunk webhook → every applicable query → Markdown for a ticket)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from positron.api.deps import CurrentBroker, CurrentPrincipal
from positron.api.middleware import request_id
from positron.api.schemas import ErrorResponse, TlpField, result_body
from positron.broker import Broker, Principal
from positron.errors import InvalidInput
from positron.inputs import MAX_VALUE_LENGTH
from positron.query import Query
from positron.security.egress import Tlp
from positron.security.guard import mask_body
from positron.workflows import enrich as enrichment
from positron.workflows.batch import BatchItem, ItemError, Outcome, Run, run_batch
from positron.workflows.enrich import parse_request

router = APIRouter(prefix="/v1", tags=["workflows"])
NDJSON = "application/x-ndjson"
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
    422: {"model": ErrorResponse, "description": "Invalid request; the message says what was expected"},
}


class BatchItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(max_length=64, examples=["IP_TO_HOSTNAME"])
    value: str = Field(min_length=1, max_length=MAX_VALUE_LENGTH, examples=["10.20.0.42"])
    at: AwareDatetime | None = None


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[BatchItemIn] = Field(min_length=1, description="Up to workflows.batch_max_items items (default 1000)")
    no_cache: bool = False
    tlp: TlpField = None


class BatchResult(BaseModel):
    index: int
    status: int = Field(description="200, or the item's own 4xx")
    result: dict[str, Any] | None = Field(description="The query response, as POST /v1/queries/{NAME} returns it")
    error: dict[str, str] | None = None


class BatchResponse(BaseModel):
    results: list[BatchResult]
    took_ms: float


class EnrichedObservable(BaseModel):
    type: str
    value: str
    field: str | None
    results: dict[str, dict[str, Any]] = Field(description="Query name → response body, or {'error': ...}")


class EnrichResponse(BaseModel):
    at: datetime | None
    title: str | None
    observables: list[EnrichedObservable]
    markdown: str
    took_ms: float


def guarded_runner(broker: Broker, principal: Principal, request: Request, tlp: Tlp | None, no_cache: bool) -> Run:
    """Each distinct item through the guard, like a single query: ACL, egress/TLP, masking, one audit line."""
    rid = request_id(request.scope)

    async def run(query: Query[Any], value: str, at: datetime | None) -> dict[str, Any]:
        guarded = await broker.guard.run(principal, query, value, at, no_cache=no_cache, tlp=tlp, request_id=rid)
        return mask_body(result_body(guarded.result), guarded.masked)

    return run


def _outcome(index: int, outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, ItemError):
        error = {"code": outcome.code, "message": outcome.message}
        return {"index": index, "status": outcome.status_code, "result": None, "error": error}
    return {"index": index, "status": 200, "result": outcome, "error": None}


async def _batch_results(broker: Broker, items: list[BatchItem], run: Run) -> AsyncIterator[dict[str, Any]]:
    concurrency = broker.settings.workflows.batch_concurrency
    async for indices, outcome in run_batch(broker.engine, items, run, concurrency=concurrency):
        for index in indices:
            yield _outcome(index, outcome)


async def _ndjson(results: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async for result in results:
        yield (json.dumps(result) + "\n").encode()


@router.post(
    "/batch",
    response_model=BatchResponse,
    responses={**ERRORS, 200: {"content": {NDJSON: {}}, "description": "JSON, or NDJSON lines as results finish"}},
    summary="Many queries at once; identical items run once; NDJSON streams results as they finish",
    operation_id="batch",
)
async def batch(body: BatchRequest, request: Request, broker: CurrentBroker, principal: CurrentPrincipal) -> Any:
    limit = broker.settings.workflows.batch_max_items
    if len(body.items) > limit:
        raise InvalidInput(f"items: expected at most {limit} items; got {len(body.items)}")
    started = time.monotonic()
    run = guarded_runner(broker, principal, request, body.tlp, body.no_cache)
    results = _batch_results(broker, [BatchItem(i.query, i.value, i.at) for i in body.items], run)
    if NDJSON in request.headers.get("accept", ""):
        return StreamingResponse(_ndjson(results), media_type=NDJSON)
    ordered = sorted([r async for r in results], key=lambda r: int(r["index"]))
    return JSONResponse({"results": ordered, "took_ms": round((time.monotonic() - started) * 1000, 1)})


class TypedObservable(BaseModel):
    type: str = Field(examples=["ip"], description="ip, hash, domain, hostname, username or mail")
    value: str = Field(max_length=MAX_VALUE_LENGTH, examples=["10.20.0.42"])


class EnrichRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    observables: list[TypedObservable] | None = Field(default=None, max_length=1000)
    alert: dict[str, Any] | None = Field(default=None, description="A raw alert; a bare Splunk webhook body works too")
    queries: list[str] | None = Field(default=None, description="Only these queries (default: every applicable one)")
    at: AwareDatetime | None = Field(default=None, description="Default: the alert's own time (_time)")
    tlp: TlpField = None


@router.post(
    "/enrich",
    response_model=EnrichResponse,
    responses=ERRORS,
    summary="Enrich an alert's observables (user, host, IP, hash, domain) into a ticket-ready Markdown summary",
    operation_id="enrich",
)
async def enrich(
    body: EnrichRequest, request: Request, broker: CurrentBroker, principal: CurrentPrincipal
) -> JSONResponse:
    started = time.monotonic()
    payload = {**(body.model_extra or {}), **body.model_dump(exclude_none=True, exclude={"at", "tlp"})}
    parsed = parse_request(payload, broker.settings.workflows, broker.engine.catalog, body.at)
    result = await enrichment.enrich(
        broker.engine,
        parsed,
        guarded_runner(broker, principal, request, body.tlp, no_cache=False),
        lambda name: bool(broker.guard.authorize_query(principal, name)),
        broker.settings.workflows.batch_concurrency,
    )
    return JSONResponse({**result, "took_ms": round((time.monotonic() - started) * 1000, 1)})
