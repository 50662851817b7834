"""Query routes: one POST route per catalog query (so OpenAPI documents each query's own input and output),
a catch-all that canonicalizes variant names (``ip_to_hostname``, ``%49P_TO_HOSTNAME``, a trailing slash),
and the list of queries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import Example
from pydantic import TypeAdapter, ValidationError

from positron.api.body import JSONResponse, JsonRoute, read_json
from positron.api.deps import CurrentBroker, CurrentContext, CurrentPrincipal
from positron.api.schemas import (
    EXAMPLES,
    ErrorResponse,
    QueryInfo,
    QueryRequestBase,
    request_model,
    response_model,
    result_body,
)
from positron.broker import AskOptions, Broker, Principal
from positron.catalog import Catalog
from positron.errors import PermissionDenied
from positron.inputs import EXPECTED
from positron.query import Query
from positron.security.audit import AuditContext

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
    403: {"model": ErrorResponse, "description": "The access policy does not let this key run the query"},
    404: {"model": ErrorResponse, "description": "Unknown query"},
    415: {"model": ErrorResponse, "description": "The body is not sent as JSON (Content-Type: application/json)"},
    422: {"model": ErrorResponse, "description": "Invalid input; the message says what was expected"},
}


async def run_query(
    broker: Broker, principal: Principal, context: AuditContext, query: Query[Any], body: QueryRequestBase
) -> JSONResponse:
    """The one guarded entry point (ACL, egress/TLP, masking, audit); this route only serializes the result."""
    options = AskOptions(providers=body.providers, no_cache=body.no_cache, tlp=body.tlp)
    result = await broker.ask(principal, query, body.value, getattr(body, "at", None), options, context)
    return JSONResponse(result_body(result))


async def _raw_value(request: Request) -> str | None:
    """The value as sent (for the audit line of a refusal), from the body JsonRoute already parsed."""
    document = await read_json(request)
    value = document.get("value") if isinstance(document, dict) else None
    return value[:128] if isinstance(value, str) else None


def _authorized(query: Query[Any]) -> Callable[..., Awaitable[None]]:
    async def authorize(
        request: Request, broker: CurrentBroker, principal: CurrentPrincipal, context: CurrentContext
    ) -> None:
        """A dependency runs before FastAPI validates the body: a caller who may not run the query learns that
        (403), not what is wrong with the body (422)."""
        broker.guard.authorize_run(principal, query, context, await _raw_value(request))

    return authorize


def _endpoint(query: Query[Any], model: type[QueryRequestBase]) -> Callable[..., Awaitable[JSONResponse]]:

    async def endpoint(
        body: QueryRequestBase, broker: CurrentBroker, principal: CurrentPrincipal, context: CurrentContext
    ) -> JSONResponse:
        return await run_query(broker, principal, context, query, body)

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
    router = APIRouter(prefix="/v1/queries", tags=["queries"], route_class=JsonRoute)
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
            dependencies=[Depends(_authorized(query))],
        )

    @router.get("", summary="The queries you may run", operation_id="list_queries", responses={401: ERRORS[401]})
    async def list_queries(broker: CurrentBroker, principal: CurrentPrincipal) -> list[QueryInfo]:
        allowed = broker.guard.authorize_query
        return [_info(broker, principal, q) for q in catalog.values() if allowed(principal, q.name)]

    @router.get(
        "/{name:path}",
        summary="One query's description",
        operation_id="get_query",
        responses={k: v for k, v in ERRORS.items() if k != 415},
    )
    async def describe_query(name: str, broker: CurrentBroker, principal: CurrentPrincipal) -> QueryInfo:
        query = catalog.get_query(name)
        if not broker.guard.authorize_query(principal, query.name):
            raise PermissionDenied(f"you may not run {query.name}")
        return _info(broker, principal, query)

    @router.post("/{name:path}", include_in_schema=False)
    async def run_by_variant_name(
        name: str, request: Request, broker: CurrentBroker, principal: CurrentPrincipal, context: CurrentContext
    ) -> JSONResponse:
        """The canonical route's steps, by hand: the body read the same way, authorized before it is validated."""
        query = catalog.get_query(name)
        broker.guard.authorize_run(principal, query, context, await _raw_value(request))
        try:
            body = models[query.name].model_validate(await read_json(request))
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
        return await run_query(broker, principal, context, query, body)

    return router
