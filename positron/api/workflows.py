"""Workflows over many lookups: POST /v1/batch (JSON, or NDJSON streamed as results finish) and POST /v1/enrich
(observables out of a raw alert such as a Splunk webhook → every applicable query → Markdown for a ticket)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from positron.api.body import JSONResponse, JsonRoute
from positron.api.deps import CurrentBroker, CurrentContext, CurrentPrincipal
from positron.api.schemas import ErrorResponse, TlpField, result_body
from positron.broker import AskOptions
from positron.errors import InvalidInput, QueryError, TooMuchWork
from positron.inputs import MAX_VALUE_LENGTH
from positron.security.guard import Caller, Prepared
from positron.workflows import enrich as enrichment
from positron.workflows.batch import ItemError, ItemOutcome, run_batch
from positron.workflows.enrich import parse_request

router = APIRouter(prefix="/v1", tags=["workflows"], route_class=JsonRoute)
NDJSON = "application/x-ndjson"
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
    415: {"model": ErrorResponse, "description": "The body is not sent as JSON (Content-Type: application/json)"},
    422: {
        "model": ErrorResponse,
        "description": "Invalid request, or more work than workflows.max_lookups allows; the message says which",
    },
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

    @field_validator("items", mode="wrap")
    @classmethod
    def _each_item_alone(cls, items: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Items stay as sent (the schema above documents them): each is validated after its query is authorized
        (``_checked``), so that a 403 comes before a 422, as for a single query."""
        if isinstance(items, list) and items:
            return items
        return handler(items)


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


def _checked(caller: Caller, items: list[Any]) -> list[BatchItemIn | tuple[str, Any]]:
    """Items whose query the caller may run must be well-formed: a malformed one fails the request (422 naming
    ``items.N.field``). An item the caller may not run is left as sent, to get its own 403 whatever else is wrong
    with it, as a single query answers 403 before 422."""
    checked: list[BatchItemIn | tuple[str, Any]] = []
    errors: list[Any] = []
    for index, raw in enumerate(items):
        name = raw.get("query") if isinstance(raw, dict) else None
        if isinstance(name, str) and not caller.may_run(name):
            checked.append((name, raw.get("value")))
            continue
        try:
            checked.append(BatchItemIn.model_validate(raw))
        except ValidationError as exc:
            found = exc.errors(include_url=False)
            if isinstance(name, str) and all(e["type"] == "string_unicode" for e in found):
                checked.append((name, raw.get("value")))  # a lone surrogate: the guard refuses this item alone
                continue
            errors += [{**e, "loc": ("body", "items", index, *e["loc"])} for e in found]
    if errors:
        raise RequestValidationError(errors)
    return checked


def _prepare_item(caller: Caller, item: BatchItemIn | tuple[str, Any]) -> Prepared | ItemError:
    """One item through the guard (its own 403, 404 or 422, and audit line, when refused)."""
    try:
        if isinstance(item, BatchItemIn):
            return caller.prepare(item.query, item.value, item.at)
        name, value = item
        return caller.prepare(name, value if isinstance(value, str) else "", None)
    except QueryError as exc:
        return ItemError.of(exc)


def _outcome(index: int, outcome: ItemOutcome) -> dict[str, Any]:
    if isinstance(outcome, ItemError):
        error = {"code": outcome.code, "message": outcome.message}
        return {"index": index, "status": outcome.status_code, "result": None, "error": error}
    return {"index": index, "status": 200, "result": result_body(outcome), "error": None}


async def _batch_results(
    items: list[Prepared | ItemError], caller: Caller, concurrency: int
) -> AsyncIterator[dict[str, Any]]:
    async for indices, outcome in run_batch(items, caller.execute, concurrency=concurrency):
        for index in indices:
            yield _outcome(index, outcome)


async def _ndjson(results: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async for result in results:
        yield (json.dumps(result) + "\n").encode()


def _check_limits(items: list[Any], max_items: int, max_lookups: int) -> None:
    if len(items) > max_items:
        raise InvalidInput(f"items: expected at most {max_items} items; got {len(items)}")
    distinct = len({json.dumps(item, sort_keys=True, default=str) for item in items})
    if distinct > max_lookups:
        raise TooMuchWork(
            f"items: {distinct} distinct items; workflows.max_lookups allows at most {max_lookups} lookups per request"
        )


@router.post(
    "/batch",
    response_model=BatchResponse,
    responses={**ERRORS, 200: {"content": {NDJSON: {}}, "description": "JSON, or NDJSON lines as results finish"}},
    summary="Many queries at once; identical items run once; NDJSON streams results as they finish",
    operation_id="batch",
)
async def batch(
    body: BatchRequest, request: Request, broker: CurrentBroker, principal: CurrentPrincipal, context: CurrentContext
) -> Any:
    config = broker.settings.workflows
    _check_limits(body.items, config.batch_max_items, config.max_lookups)
    started = time.monotonic()
    caller = broker.guard.caller(principal, AskOptions(no_cache=body.no_cache, tlp=body.tlp), context)
    prepared = [_prepare_item(caller, item) for item in _checked(caller, body.items)]
    results = _batch_results(prepared, caller, config.batch_concurrency)
    if NDJSON in request.headers.get("accept", ""):
        return StreamingResponse(_ndjson(results), media_type=NDJSON)
    ordered = sorted([r async for r in results], key=lambda r: int(r["index"]))
    return JSONResponse({"results": ordered, "took_ms": round((time.monotonic() - started) * 1000, 1)})


class TypedObservable(BaseModel):
    type: str = Field(examples=["ip"], description="ip, hash, domain, hostname, username or mail")
    value: str = Field(max_length=MAX_VALUE_LENGTH, examples=["10.20.0.42"])


class EnrichRequest(BaseModel):  # the HTTP body; positron.workflows.enrich parses it into an EnrichJob
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
    body: EnrichRequest, broker: CurrentBroker, principal: CurrentPrincipal, context: CurrentContext
) -> JSONResponse:
    started = time.monotonic()
    config = broker.settings.workflows
    payload = {**(body.model_extra or {}), **body.model_dump(exclude_none=True, exclude={"at", "tlp"})}
    job = parse_request(payload, config, broker.engine.catalog, body.at)
    caller = broker.guard.caller(principal, AskOptions(tlp=body.tlp), context)
    result = await enrichment.enrich(job, caller, config)
    return JSONResponse({**result, "took_ms": round((time.monotonic() - started) * 1000, 1)})
