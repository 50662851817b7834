"""A wire-faithful emulator of the Microsoft identity platform token endpoint and the Microsoft Graph v1.0
endpoints the entra_id provider uses.

``POST /{tenant}/oauth2/v2.0/token`` (client credentials: ``client_id``, ``client_secret``, ``scope`` ending in
``/.default``, ``grant_type``; errors as ``{"error": "invalid_client", "error_description", "error_codes"}``),
``GET /v1.0/users`` (``$filter`` of ``prop eq 'literal'`` terms joined by ``or``, ``''`` for a quote;
``onPremisesSamAccountName`` only as an advanced query: ``ConsistencyLevel: eventual`` and ``$count=true``, else
400 Request_UnsupportedQuery; ``$select``; ``$top``), ``GET /v1.0/users/{id}/manager`` (404
Request_ResourceNotFound when there is none), ``GET /v1.0/users/{id}/transitiveMemberOf/microsoft.graph.group``
(nested groups resolved; ``$top`` pages with ``@odata.nextLink`` and ``$skiptoken``), ``GET /v1.0/organization``.
Errors are Graph's ``{"error": {"code", "message", "innerError": {"date", "request-id"}}}``; ``throttle()``
answers 429 TooManyRequests with ``Retry-After``. Tokens expire after ``expires_in`` s, or at ``revoke()``.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.emulators.base import Emulator, json_response

GRAPH = "https://graph.microsoft.com"
TERM = re.compile(r"\s*([A-Za-z]+) eq '((?:''|[^'])*)'\s*")
ADVANCED = {"onPremisesSamAccountName"}
FILTERABLE = {"userPrincipalName", "mail", "onPremisesSamAccountName", "displayName"}


def graph_error(code: str, message: str) -> dict[str, Any]:
    inner = {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4())}
    return {"error": {"code": code, "message": message, "innerError": inner}}


def parse_filter(expr: str) -> list[tuple[str, str]]:
    """``a eq 'x' or b eq 'y'`` → [(a, x), (b, y)]; ValueError on anything else."""
    terms, pos = [], 0
    while True:
        match = TERM.match(expr, pos)
        if match is None:
            raise ValueError("Invalid filter clause")
        terms.append((match.group(1), match.group(2).replace("''", "'")))
        pos = match.end()
        if pos == len(expr):
            return terms
        if not expr.startswith("or ", pos):
            raise ValueError("Invalid filter clause")
        pos += 3


class GraphEmulator(Emulator):
    def __init__(
        self,
        tenant: str = "contoso.onmicrosoft.com",
        client_id: str = "app",
        client_secret: str = "secret",
        *,
        expires_in: int = 3599,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.tenant, self.client_id, self.client_secret = tenant, client_id, client_secret
        self.expires_in = expires_in
        self.tokens: dict[str, float] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.managers: dict[str, str] = {}  # user id → manager id
        self.groups: dict[str, dict[str, Any]] = {}
        self.member_of: dict[str, set[str]] = {}  # user or group id → group ids it is a direct member of
        self.max_page = 999  # Graph may page smaller than $top asks

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_get("/v1.0/users", self._list_users)
        app.router.add_get("/v1.0/users/{id}/manager", self._manager)
        app.router.add_get("/v1.0/users/{id}/transitiveMemberOf/microsoft.graph.group", self._groups)
        app.router.add_get("/v1.0/organization", self._organization)

    # seeding

    def add_user(self, upn: str, *, sam: str | None = None, manager: str | None = None, **fields: Any) -> str:
        user_id = str(uuid.uuid4())
        self.users[user_id] = {
            "id": user_id,
            "userPrincipalName": upn,
            "onPremisesSamAccountName": sam,
            "displayName": upn.split("@")[0].replace(".", " ").title(),
            "mail": upn,
            "jobTitle": None,
            "department": None,
            "companyName": None,
            "officeLocation": None,
            "city": None,
            "businessPhones": [],
            "mobilePhone": None,
            "accountEnabled": True,
            **fields,
        }
        if manager is not None:
            self.managers[user_id] = manager
        return user_id

    def add_group(self, name: str, *, members: tuple[str, ...] = ()) -> str:
        group_id = str(uuid.uuid4())
        self.groups[group_id] = {"@odata.type": "#microsoft.graph.group", "id": group_id, "displayName": name}
        for member in members:
            self.member_of.setdefault(member, set()).add(group_id)
        return group_id

    def revoke(self) -> None:
        self.tokens.clear()

    def throttle(self, retry_after: str = "3", times: int = 1) -> None:
        doc = graph_error("TooManyRequests", "Too many requests. Please retry after some time.")
        self.fail(429, doc, headers={"Retry-After": retry_after}, times=times)

    # handlers

    async def _token(self, request: web.Request) -> web.Response:
        if (early := await self.enter(request)) is not None:
            return early
        form = await request.post()
        if request.match_info["tenant"] != self.tenant:
            return self._token_error(400, "invalid_request", 90002, "Tenant not found.")
        if form.get("grant_type") != "client_credentials" or not str(form.get("scope", "")).endswith("/.default"):
            return self._token_error(400, "invalid_scope", 1002012, "The provided value for scope is not valid.")
        if form.get("client_id") != self.client_id:
            return self._token_error(400, "unauthorized_client", 700016, "Application not found in the directory.")
        if form.get("client_secret") != self.client_secret:
            return self._token_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        token = secrets.token_urlsafe(32)
        self.tokens[token] = time.monotonic() + self.expires_in
        doc = {
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "ext_expires_in": self.expires_in,
            "access_token": token,
        }
        return json_response(200, doc)

    async def _list_users(self, request: web.Request) -> web.Response:
        if (early := await self.enter(request) or self._auth(request)) is not None:
            return early
        q = request.query
        try:
            terms = parse_filter(q["$filter"]) if "$filter" in q else []
        except ValueError as exc:
            return json_response(400, graph_error("BadRequest", str(exc)))
        for prop, _ in terms:
            if prop not in FILTERABLE:
                return json_response(400, graph_error("Request_UnsupportedQuery", f"Unsupported property {prop}"))
            advanced = request.headers.get("ConsistencyLevel") == "eventual" and q.get("$count") == "true"
            if prop in ADVANCED and not advanced:
                message = (
                    f"Unsupported or invalid query filter clause specified for property '{prop}' of resource 'User'."
                )
                return json_response(400, graph_error("Request_UnsupportedQuery", message))
        found = [
            u
            for u in self.users.values()
            if not terms or any(str(u.get(p) or "").casefold() == v.casefold() for p, v in terms)
        ]
        top = int(q.get("$top", "100"))
        doc: dict[str, Any] = {"@odata.context": f"{GRAPH}/v1.0/$metadata#users"}
        if q.get("$count") == "true":
            doc["@odata.count"] = len(found)
        doc["value"] = [_select(u, q.get("$select")) for u in found[:top]]
        return json_response(200, doc)

    async def _manager(self, request: web.Request) -> web.Response:
        if (early := await self.enter(request) or self._auth(request)) is not None:
            return early
        user_id = request.match_info["id"]
        if user_id not in self.users or user_id not in self.managers:
            message = (
                f"Resource '{user_id}' does not exist or one of its queried reference-property objects are not present."
            )
            return json_response(404, graph_error("Request_ResourceNotFound", message))
        manager = self.users[self.managers[user_id]]
        doc = {
            "@odata.context": f"{GRAPH}/v1.0/$metadata#directoryObjects/$entity",
            "@odata.type": "#microsoft.graph.user",
            **_select(manager, request.query.get("$select")),
        }
        return json_response(200, doc)

    async def _groups(self, request: web.Request) -> web.Response:
        if (early := await self.enter(request) or self._auth(request)) is not None:
            return early
        user_id = request.match_info["id"]
        if user_id not in self.users:
            return json_response(404, graph_error("Request_ResourceNotFound", f"Resource '{user_id}' does not exist."))
        every = sorted(self._transitive(user_id), key=lambda g: self.groups[g]["displayName"])
        top = min(self.max_page, int(request.query.get("$top", "100")))
        skip = int(request.query.get("$skiptoken", "0"))
        page = every[skip : skip + top]
        doc: dict[str, Any] = {
            "@odata.context": f"{GRAPH}/v1.0/$metadata#groups",
            "value": [_select(self.groups[g], request.query.get("$select"), keep_type=True) for g in page],
        }
        if skip + top < len(every):
            doc["@odata.nextLink"] = (
                f"{self.base_url}/v1.0/users/{user_id}/transitiveMemberOf/microsoft.graph.group"
                f"?$select={request.query.get('$select', '')}&$top={top}&$skiptoken={skip + top}"
            )
        return json_response(200, doc)

    async def _organization(self, request: web.Request) -> web.Response:
        if (early := await self.enter(request) or self._auth(request)) is not None:
            return early
        return json_response(
            200, {"value": [{"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.tenant)), "displayName": "Contoso"}]}
        )

    def _transitive(self, member: str) -> set[str]:
        seen: set[str] = set()
        todo = list(self.member_of.get(member, ()))
        while todo:
            group = todo.pop()
            if group not in seen:
                seen.add(group)
                todo += self.member_of.get(group, ())
        return seen

    def _auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or self.tokens.get(header[7:], 0.0) < time.monotonic():
            message = "Access token has expired or is not yet valid."
            return json_response(401, graph_error("InvalidAuthenticationToken", message))
        return None

    def _token_error(self, status: int, error: str, code: int, text: str) -> web.Response:
        doc = {
            "error": error,
            "error_description": f"AADSTS{code}: {text}",
            "error_codes": [code],
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        }
        return json_response(status, doc)


def _select(obj: dict[str, Any], select: str | None, keep_type: bool = False) -> dict[str, Any]:
    if not select:
        return dict(obj)
    names = set(select.split(",")) | ({"@odata.type"} if keep_type else set())
    return {k: v for k, v in obj.items() if k in names}
