"""A wire-faithful emulator of the CrowdStrike Falcon endpoints the crowdstrike provider uses.

``POST /oauth2/token`` (form ``client_id``/``client_secret``; 201 ``{"access_token", "token_type": "bearer",
"expires_in"}``, 403 for wrong credentials), ``GET /devices/queries/devices/v1`` (``filter`` in FQL — terms
``field:'value'`` joined by ``,`` (or) and ``+`` (and), ``\\'`` and ``\\\\`` escapes, ``*`` a wildcard — with
``limit``/``offset`` and ``meta.pagination``), ``GET /devices/entities/devices/v2?ids=…``. Every answer has
Falcon's envelope ``{"meta": {"query_time", "powered_by", "trace_id"}, "resources", "errors"}`` and the
``X-RateLimit-Limit``/``X-RateLimit-Remaining`` headers; past ``rate_limit`` requests a 429 carries
``X-RateLimit-RetryAfter`` (epoch seconds). Tokens expire after ``expires_in`` s, or at once with ``revoke()``.
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

TERM = re.compile(r"\s*([a-z_]+):'((?:\\.|[^'\\])*)'\s*")


class FqlError(ValueError):
    pass


def parse_fql(fql: str) -> list[list[tuple[str, str]]]:
    """FQL → OR of ANDs of (field, pattern). Raises FqlError on anything else (as Falcon answers 400)."""
    groups: list[list[tuple[str, str]]] = [[]]
    pos = 0
    while True:
        match = TERM.match(fql, pos)
        if match is None:
            raise FqlError(f"invalid filter at {pos}")
        value = re.sub(r"\\(.)", r"\1", match.group(2))
        groups[-1].append((match.group(1), value))
        pos = match.end()
        if pos == len(fql):
            return groups
        if fql[pos] == ",":
            groups.append([])
        elif fql[pos] != "+":
            raise FqlError(f"invalid filter at {pos}")
        pos += 1


def _matches(device: dict[str, Any], groups: list[list[tuple[str, str]]]) -> bool:
    def term(name: str, pattern: str) -> bool:
        regex = "^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$"
        return re.match(regex, str(device.get(name, "")), re.IGNORECASE) is not None

    return any(all(term(n, p) for n, p in group) for group in groups)


class FalconEmulator(Emulator):
    def __init__(
        self,
        client_id: str = "falcon-client",
        client_secret: str = "falcon-secret",
        *,
        expires_in: int = 1799,
        rate_limit: int = 6000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.client_id, self.client_secret = client_id, client_secret
        self.expires_in = expires_in
        self.rate_limit = rate_limit
        self.tokens: dict[str, float] = {}  # token → expiry (monotonic)
        self.devices: list[dict[str, Any]] = []
        self.api_calls = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/oauth2/token", self._token)
        app.router.add_get("/devices/queries/devices/v1", self._query)
        app.router.add_get("/devices/entities/devices/v2", self._entities)

    def revoke(self) -> None:
        self.tokens.clear()

    def add_device(self, hostname: str, **fields: Any) -> dict[str, Any]:
        aid = uuid.uuid4().hex
        device = {
            "device_id": aid,
            "cid": "c0ffee" * 5 + "00",
            "agent_version": "7.18.18110.0",
            "hostname": hostname,
            "local_ip": "",
            "external_ip": "203.0.113.7",
            "mac_address": "",
            "machine_domain": "corp.example",
            "os_version": "Windows 11",
            "os_build": "22631",
            "platform_name": "Windows",
            "product_type_desc": "Workstation",
            "system_manufacturer": "LENOVO",
            "system_product_name": "ThinkPad T14 Gen 4",
            "serial_number": f"PF{len(self.devices):06d}",
            "first_seen": "2026-01-10T09:00:00Z",
            "last_seen": "2026-11-20T11:59:00Z",
            "last_login_user": "",
            "last_login_timestamp": None,
            "site_name": "Paris",
            "ou": ["Workstations", "Paris"],
            "status": "normal",
            "tags": [],
        }
        device.update(fields)
        self.devices.append(device)
        return device

    # --- handlers ---

    async def _token(self, request: web.Request) -> web.Response:
        if (early := await self.enter(request)) is not None:
            return early
        form = await request.post()
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return self._envelope(403, [], errors=[{"code": 403, "message": "access denied, invalid client"}])
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.monotonic() + self.expires_in
        doc = {"access_token": token, "token_type": "bearer", "expires_in": self.expires_in}
        return json_response(201, doc, {"X-Cs-Region": "us-1"})

    async def _query(self, request: web.Request) -> web.Response:
        if (early := await self.enter(request) or self._guard(request)) is not None:
            return early
        try:
            groups = parse_fql(request.query.get("filter", ""))
            limit, offset = int(request.query.get("limit", "100")), int(request.query.get("offset", "0"))
        except (FqlError, ValueError) as exc:
            return self._envelope(400, [], errors=[{"code": 400, "message": str(exc)}])
        if not 1 <= limit <= 5000:
            return self._envelope(400, [], errors=[{"code": 400, "message": "limit must be 1..5000"}])
        ids = [d["device_id"] for d in self.devices if _matches(d, groups)]
        pagination = {"offset": offset, "limit": limit, "total": len(ids)}
        return self._envelope(200, ids[offset : offset + limit], pagination=pagination)

    async def _entities(self, request: web.Request) -> web.Response:
        if (early := await self.enter(request) or self._guard(request)) is not None:
            return early
        wanted = request.query.getall("ids", [])
        if not wanted or len(wanted) > 100:
            return self._envelope(400, [], errors=[{"code": 400, "message": "ids: 1 to 100 ids"}])
        found = [d for d in self.devices if d["device_id"] in wanted]
        return self._envelope(200, found)

    def _guard(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ")
        if not header.startswith("Bearer ") or self.tokens.get(token, 0.0) < time.monotonic():
            return self._envelope(401, [], errors=[{"code": 401, "message": "access denied, authorization failed"}])
        self.api_calls += 1
        if self.api_calls > self.rate_limit:
            retry = str(int(time.time()) + 3)
            return self._envelope(429, [], errors=[{"code": 429, "message": "API rate limit exceeded."}], retry=retry)
        return None

    def _envelope(
        self,
        status: int,
        resources: list[Any],
        *,
        errors: list[Any] | None = None,
        pagination: dict[str, int] | None = None,
        retry: str | None = None,
    ) -> web.Response:
        meta: dict[str, Any] = {"query_time": 0.0012, "powered_by": "device-api", "trace_id": str(uuid.uuid4())}
        if pagination is not None:
            meta["pagination"] = pagination
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - self.api_calls)),
        }
        if retry is not None:
            headers["X-RateLimit-RetryAfter"] = retry
        doc = {"meta": meta, "resources": resources, "errors": errors or []}
        return json_response(status, doc, headers)


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
