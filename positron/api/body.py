"""Bodies. Responses are ``JSONResponse`` (below): UTF-8 JSON, and never a 500 for a string that has no UTF-8
form (a lone surrogate echoed from a hostile request is written escaped instead).

Request bodies are JSON, parsed once before FastAPI validates them, so that each mistake is a 4xx that says how
to fix it:

- a body sent with another Content-Type (``curl -d`` sends ``application/x-www-form-urlencoded``): 415, "send JSON
  with Content-Type: application/json";
- malformed JSON: 422 with the line and column where it broke;
- bytes that are not UTF-8, nesting deeper than ``MAX_DEPTH``, a number too long to parse: 422.

``JsonRoute`` (every router's route class) does it for each route that declares a body; the variant-name query
route calls ``read_json`` itself. Starlette keeps the parsed document on the request, so FastAPI does not parse
it again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from email.message import Message
from typing import Any

from fastapi import Request, Response
from fastapi import responses as fastapi_responses
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param

from positron.api.deps import authenticate
from positron.errors import InvalidBody, UnsupportedMediaType

MAX_DEPTH = 32  # real alerts and requests are a few levels deep; deeper only makes recursion expensive
SEND_JSON = "send the body as JSON with the header Content-Type: application/json"


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # FastAPI reads a body without a Content-Type as JSON; so do we
    header = Message()
    header["content-type"] = content_type
    subtype = header.get_content_subtype()
    return header.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


async def read_json(request: Request) -> Any:
    """The body as JSON, or a 4xx that says what to send (``None`` for an empty body: validation names it)."""
    if not _is_json(request.headers.get("content-type")):
        given = request.headers.get("content-type", "").split(";")[0][:64]
        raise UnsupportedMediaType(f"the body was sent as {given}; {SEND_JSON}")
    if not await request.body():
        return None
    try:
        document = await request.json()
    except json.JSONDecodeError as exc:
        raise InvalidBody(f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except UnicodeDecodeError:
        raise InvalidBody("the body is not valid JSON: it is not UTF-8 text") from None
    except RecursionError:
        raise InvalidBody(f"the body is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError:  # Python's limit on the digits of an integer
        raise InvalidBody("the body is not valid JSON: a number has too many digits") from None
    check_depth(document)
    return document


def check_depth(document: Any) -> None:
    if _depth_exceeds(document, MAX_DEPTH):
        raise InvalidBody(f"the body is nested more than {MAX_DEPTH} levels deep")


def _depth_exceeds(document: Any, limit: int) -> bool:
    """Iteratively, so that a deep document cannot exhaust the stack while it is being measured."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _bearer_token(request: Request) -> str | None:
    """The token as FastAPI's ``HTTPBearer`` reads it (which the routes also declare, for OpenAPI)."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    return token if scheme.lower() == "bearer" and token else None


class JsonRoute(APIRoute):
    """An API route (every one of them needs a key) whose caller is authenticated, then whose JSON body is read
    by ``read_json``, before FastAPI validates it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def route(request: Request) -> Response:
            authenticate(request, _bearer_token(request))  # who asks comes first: 401 before 415 or 422
            await read_json(request)
            return await handler(request)

        return route


class JSONResponse(fastapi_responses.JSONResponse):
    """Starlette's JSON response, falling back to ASCII escapes when the content holds a lone surrogate."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")
