"""Errors mapped at the HTTP boundary: our typed errors → their status; validation → 422 naming the field;
anything else → 500 with a request id and no details (the traceback goes to the log, never to the client)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from positron.api.body import JSONResponse
from positron.api.middleware import request_id as scope_request_id
from positron.errors import AuthenticationFailed, QueryError

log = logging.getLogger("positron.api")


def error_response(status: int, code: str, message: str, details: Any = None, **headers: str) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers or None)


def _where(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


async def _query_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QueryError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationFailed) else {}
    return error_response(exc.status_code, exc.code, exc.message, **headers)


def _details(errors: Sequence[Any]) -> list[dict[str, str]]:
    return [{"field": _where(tuple(e.get("loc", ()))), "message": e.get("msg", "")} for e in errors]


def _describe(errors: Sequence[Any]) -> str:
    """Pydantic's errors as one message: ``field: what was wrong; ...`` (the first five)."""
    return "; ".join(f"{d['field']}: {d['message']}" for d in _details(errors)[:5]) or "invalid request"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "invalid_request", _describe(exc.errors()), _details(exc.errors()))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:  # FastAPI's "error parsing the body": bytes that are not UTF-8 (bad JSON is a 422)
        return error_response(422, "invalid_request", "the request body is not valid JSON (UTF-8 expected)")
    code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), **(exc.headers or {}))  # e.g. 405's Allow


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    request_id = scope_request_id(request.scope)  # the one the client got in X-Request-ID
    log.error("unhandled %s on %s %s (request %s)", type(exc).__name__, request.method, request.url.path, request_id)
    return error_response(500, "internal_error", f"internal error (request id {request_id})")


def install(app: FastAPI) -> None:
    app.add_exception_handler(QueryError, _query_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
