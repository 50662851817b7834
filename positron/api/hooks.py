"""Webhooks: ``POST /v1/hooks/{token}/enrich`` — an alert (a Splunk webhook body as Splunk sends it) enriched as
the webhook's principal, for senders that cannot set an Authorization header (see positron.security.webhooks).

The token never reaches a log: ``HideHookToken`` is the outermost middleware and moves it from the path into the
request state, so everything after it (the access log, errors, audit lines, metrics) sees
``/v1/hooks/redacted/enrich``. The enrichment is the one ``POST /v1/enrich`` runs, through the guard with the
webhook's principal; a callback, when configured, is delivered after the answer (positron.workflows.delivery).
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import Field
from starlette.background import BackgroundTask
from starlette.types import ASGIApp, Receive, Scope, Send

from positron.api.body import MAX_DEPTH, JSONResponse, check_depth
from positron.api.deps import CurrentBroker, CurrentContext
from positron.api.middleware import audit_context
from positron.api.schemas import ErrorResponse
from positron.api.workflows import EnrichResponse
from positron.broker import AskOptions, Broker
from positron.catalog import canonical_name
from positron.errors import AuthenticationFailed, InvalidInput, QueryError
from positron.security.audit import AuditRecord
from positron.security.webhooks import WebhookConfig, hide_token
from positron.workflows import delivery
from positron.workflows import enrich as enrichment

router = APIRouter(prefix="/v1/hooks", tags=["webhooks"])
STATE_KEY = "hook_token"


class HideHookToken:
    """Outermost: ``/v1/hooks/<token>/...`` → ``/v1/hooks/redacted/...``, the token kept in the request state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path, token = hide_token(scope.get("path", ""))
            if token is not None:
                # in place: the server logs the access line from this same scope once the response starts
                scope["path"], scope["raw_path"] = path, path.encode()
                scope.setdefault("state", {})[STATE_KEY] = token
        await self.app(scope, receive, send)


class HookResponse(EnrichResponse):
    webhook: str = Field(description="The webhook's name (never its token)")
    delivery: Literal["queued"] | None = Field(description="'queued' when a callback will get the Markdown")


def _authenticate(request: Request, broker: Broker) -> WebhookConfig:
    state: dict[str, Any] = request.scope.get("state") or {}
    try:
        return broker.guard.authenticate_hook(state.get(STATE_KEY))
    except AuthenticationFailed:  # audited without the token; the caller learns only "invalid"
        context = audit_context(request.scope)
        broker.guard.audit.write(AuditRecord("auth", context, 401, "unauthenticated", path=request.url.path))
        raise


async def _alert(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        payload = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8 JSON; send the alert as a JSON object") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise InvalidInput(f"the body is not JSON ({exc.msg} at {where}); send the alert as a JSON object") from None
    except RecursionError:
        raise InvalidInput(f"the body is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError:  # Python's limit on the digits of an integer
        raise InvalidInput("the body is not valid JSON: a number has too many digits") from None
    check_depth(payload)
    if not isinstance(payload, dict):
        raise InvalidInput("expected a JSON object: the alert (a Splunk webhook body works as it is)")
    return payload


def _limit(parsed: enrichment.EnrichJob, hook: WebhookConfig) -> enrichment.EnrichJob:
    if hook.queries is None:
        return parsed
    allowed = {canonical_name(q) for q in hook.queries}
    wanted = allowed if parsed.wanted is None else parsed.wanted & allowed
    return dataclasses.replace(parsed, wanted=wanted)


@router.post(
    "/{token}/enrich",
    response_model=HookResponse,
    responses={
        401: {"model": ErrorResponse, "description": "Unknown, revoked or expired webhook token"},
        422: {"model": ErrorResponse, "description": "The body is not a JSON object; the message says where"},
    },
    summary="Enrich an alert posted by a webhook that cannot send headers (Splunk): the token is in the path",
    operation_id="hook_enrich",
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def hook_enrich(
    token: Annotated[str, Path(description="The webhook's token (`positron hooks create` prints the URL)")],
    request: Request,
    broker: CurrentBroker,
    context: CurrentContext,
) -> JSONResponse:
    hook = _authenticate(request, broker)  # from the request state: `token` here only ever reads "redacted"
    started = time.monotonic()
    principal = context.principal = hook.as_principal
    record = AuditRecord("webhook", context, 500, "allowed", extra={"webhook": hook.name})
    try:
        alert = await _alert(request)
        job = _limit(enrichment.parse_request(alert, broker.settings.workflows, broker.engine.catalog), hook)
        caller = broker.guard.caller(principal, AskOptions(tlp=hook.tlp), context)
        result = await enrichment.enrich(job, caller, broker.settings.workflows)
    except QueryError as exc:
        record.status, record.decision, record.error = exc.status_code, "invalid", exc.code
        broker.guard.audit.write(record)
        raise
    queued = hook.callback is not None
    record.status = 200
    record.extra.update(observables=len(result["observables"]), delivery=queued)
    broker.guard.audit.write(record)
    task = None
    if hook.callback is not None:
        doc = delivery.document(hook.name, job.alert, result)
        rid = context.request_id
        task = BackgroundTask(delivery.deliver, hook.callback, hook.name, doc, broker.guard.audit, rid)
    took = round((time.monotonic() - started) * 1000, 1)
    body = {**result, "webhook": hook.name, "delivery": "queued" if queued else None, "took_ms": took}
    return JSONResponse(body, background=task)
