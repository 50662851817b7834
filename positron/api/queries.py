"""Query routes: one POST route per catalog query (so OpenAPI documents each query's own input and output),
a catch-all that canonicalizes variant names (``ip_to_hostname``, ``%49P_TO_HOSTNAME``, a trailing slash),
and the list of queries."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import Example
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from positron.api.deps import CurrentBroker, CurrentPrincipal
from positron.api.middleware import request_id
from positron.api.schemas import (
    EXAMPLES,
    ErrorResponse,
    QueryInfo,
    QueryRequestBase,
    request_model,
    response_model,
    result_body,
)
from positron.broker import Broker, Principal
from positron.catalog import Catalog
from positron.errors import PermissionDenied
from positron.inputs import EXPECTED
from positron.query import Query
from positron.security.guard import mask_body

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
    403: {"model": ErrorResponse, "description": "The access policy does not let this key run the query"},
    404: {"model": ErrorResponse, "description": "Unknown query"},
    422: {"model": ErrorResponse, "description": "Invalid input; the message says what was expected"},
}


async def run_query(
    request: Request, broker: Broker, principal: Principal, query: Query[Any], body: QueryRequestBase
) -> JSONResponse:
    """Through the guard: the ACL before any provider call or cache read, egress/TLP skips, masking, audit."""
    guarded = await broker.guard.run(
        principal,
        query,
        body.value,
        getattr(body, "at", None),
        providers=body.providers,
        no_cache=body.no_cache,
        tlp=body.tlp,
        request_id=request_id(request.scope),
    )
    return JSONResponse(mask_body(result_body(guarded.result), guarded.masked))


def _endpoint(query: Query[Any], model: type[QueryRequestBase]) -> Callable[..., Awaitable[JSONResponse]]:

    async def endpoint(
        body: QueryRequestBase, request: Request, broker: CurrentBroker, principal: CurrentPrincipal
    ) -> JSONResponse:
        return await run_query(request, broker, principal, query, body)

    # this query's own request model, for validation and OpenAPI; the example is what Swagger UI's "Try it out"
    # starts from (without it, the generated sample names a provider "string" and fails)
    example = Example(summary="the value alone", value={"value": EXAMPLES[query.input.value]})
    endpoint.__annotations__["body"] = Annotated[model, Body(openapi_examples={"minimal": example})]
    endpoint.__name__ = query.name.lower()
    return endpoint


def _info(broker: Broker, principal: Principal, query: Query[Any]) -> QueryInfo:
    return QueryInfo(
        name=query.name,
        description=query.description,
        input=query.input.value,
        input_expected=EXPECTED[query.input],
        accepts_at=query.accepts_at,
        merge=query.merge.value,
        cache_ttl_s=query.cache_ttl_s,
        sensitivity=query.sensitivity.value,
        providers=[i.name for i in broker.engine.answering(query) if broker.guard.usable(principal, i.name)],
        output_schema=TypeAdapter(query.output).json_schema(),
    )


def build_router(catalog: Catalog) -> APIRouter:
    """One POST route per catalog query, the list, one query's description, and the variant-name catch-all."""
    router = APIRouter(prefix="/v1/queries", tags=["queries"])
    models = {name: request_model(q) for name, q in catalog.items()}
    for query in catalog.values():
        router.add_api_route(
            f"/{query.name}",
            _endpoint(query, models[query.name]),
            methods=["POST"],
            response_model=response_model(query),
            summary=query.description,
            description=f"Input: {EXPECTED[query.input]}."
            + (" Takes an optional `at` (RFC 3339)." if query.accepts_at else ""),
            operation_id=f"query_{query.name}",
            responses=ERRORS,
        )

    @router.get("", summary="The queries you may run", operation_id="list_queries", responses={401: ERRORS[401]})
    async def list_queries(broker: CurrentBroker, principal: CurrentPrincipal) -> list[QueryInfo]:
        allowed = broker.guard.authorize_query
        return [_info(broker, principal, q) for q in catalog.values() if allowed(principal, q.name)]

    @router.get("/{name:path}", summary="One query's description", operation_id="get_query", responses=ERRORS)
    async def describe_query(name: str, broker: CurrentBroker, principal: CurrentPrincipal) -> QueryInfo:
        query = catalog.get_query(name)
        if not broker.guard.authorize_query(principal, query.name):
            raise PermissionDenied(f"you may not run {query.name}")
        return _info(broker, principal, query)

    @router.post("/{name:path}", include_in_schema=False)
    async def run_by_variant_name(
        name: str, request: Request, broker: CurrentBroker, principal: CurrentPrincipal
    ) -> JSONResponse:
        query = catalog.get_query(name)
        raw = await request.body()
        try:
            data = json.loads(raw) if raw else None
            body = models[query.name].model_validate(data)
        except json.JSONDecodeError:
            raise RequestValidationError([{"loc": ("body",), "msg": "the body is not valid JSON"}]) from None
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
        return await run_query(request, broker, principal, query, body)

    return router
