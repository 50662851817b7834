"""A wire-faithful emulator of the FleetDM REST API endpoints the fleet provider uses.

``GET /api/v1/fleet/hosts`` with ``query`` (a keyword search over hostname, hardware_serial, uuid, primary_ip
and device-mapping e-mails, matched like Fleet's SQL ``LIKE '%…%'``: ``_`` and ``%`` in the keyword are
wildcards), ``team_id``, ``device_mapping=true`` (adds each host's ``device_mapping`` list), ``page`` (from 0) and
``per_page`` (default 100); ``GET /api/v1/fleet/version``. Hosts have Fleet's field names. Authentication is
``Authorization: Bearer <token>``; errors are Fleet's ``{"message", "errors": [{"name", "reason"}]}``.
``throttle(n, retry_after)`` answers the next n requests 429 as a proxy in front of Fleet would."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.emulators.base import Emulator, json_response

DEFAULT_PER_PAGE = 100


def fleet_error(message: str, reason: str | None = None) -> dict[str, Any]:
    return {"message": message, "errors": [{"name": "base", "reason": reason or message}]}


class FleetEmulator(Emulator):
    def __init__(self, token: str = "fleet-token", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.hosts: list[dict[str, Any]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/fleet/hosts", self._hosts)
        app.router.add_get("/api/v1/fleet/version", self._version)

    def add_host(
        self,
        hostname: str,
        *,
        primary_ip: str = "",
        primary_mac: str = "",
        emails: tuple[str, ...] = (),
        seen_time: datetime | None = None,
        team: tuple[int, str] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        host_id = len(self.hosts) + 1
        seen = (seen_time or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        host: dict[str, Any] = {
            "created_at": "2026-01-05T10:00:00Z",
            "updated_at": seen,
            "id": host_id,
            "detail_updated_at": seen,
            "last_enrolled_at": "2026-01-05T10:00:00Z",
            "seen_time": seen,
            "refetch_requested": False,
            "hostname": hostname,
            "uuid": f"392547dc-0000-4000-8000-{host_id:012d}",
            "platform": "windows",
            "osquery_version": "5.12.1",
            "os_version": "Windows 11 Enterprise 23H2 10.0.22631",
            "build": "22631",
            "platform_like": "windows",
            "uptime": 8_305_000_000_000,
            "memory": 17_179_869_184,
            "cpu_brand": "Intel(R) Core(TM) i7-1185G7",
            "hardware_vendor": "Dell Inc.",
            "hardware_model": "Latitude 7420",
            "hardware_version": "",
            "hardware_serial": f"SN{host_id:06d}",
            "computer_name": hostname.split(".")[0].upper(),
            "display_name": hostname.split(".")[0].upper(),
            "public_ip": "203.0.113.7",
            "primary_ip": primary_ip,
            "primary_mac": primary_mac,
            "distributed_interval": 10,
            "team_id": team[0] if team else None,
            "team_name": team[1] if team else None,
            "status": "online",
            "display_text": hostname,
            "_emails": list(emails),
        }
        host.update(fields)
        self.hosts.append(host)
        return host

    def throttle(self, times: int = 1, retry_after: str = "2") -> None:
        self.fail(429, fleet_error("Too Many Requests"), headers={"Retry-After": retry_after}, times=times)

    async def _version(self, request: web.Request) -> web.Response:
        if (early := await self.enter(request) or self._auth(request)) is not None:
            return early
        return json_response(200, {"version": "4.60.0", "branch": "HEAD", "revision": "0f3c", "go_version": "go1.23"})

    async def _hosts(self, request: web.Request) -> web.Response:
        if (early := await self.enter(request) or self._auth(request)) is not None:
            return early
        q = request.query
        try:
            page, per_page = int(q.get("page", "0")), int(q.get("per_page", str(DEFAULT_PER_PAGE)))
            team = int(q["team_id"]) if "team_id" in q else None
        except ValueError:
            return json_response(400, fleet_error("Bad request", "invalid page, per_page or team_id"))
        matches = [h for h in self.hosts if _matches(h, q.get("query", "")) and (team is None or h["team_id"] == team)]
        chunk = matches[page * per_page : (page + 1) * per_page]
        mapping = q.get("device_mapping") == "true"
        return json_response(200, {"hosts": [_public(h, mapping) for h in chunk]})

    def _auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return json_response(401, fleet_error("Authentication required"))
        return None


def _like(keyword: str) -> re.Pattern[str]:
    """Fleet's ``LIKE '%keyword%'`` with the keyword's own ``_`` and ``%`` left as wildcards."""
    pattern = "".join("." if c == "_" else ".*" if c == "%" else re.escape(c) for c in keyword)
    return re.compile(pattern, re.IGNORECASE)


def _matches(host: dict[str, Any], keyword: str) -> bool:
    if not keyword:
        return True
    like = _like(keyword)
    fields = [host["hostname"], host["hardware_serial"], host["uuid"], host["primary_ip"], *host["_emails"]]
    return any(like.search(str(f)) for f in fields)


def _public(host: dict[str, Any], mapping: bool) -> dict[str, Any]:
    doc = {k: v for k, v in host.items() if not k.startswith("_")}
    if mapping:
        emails = host["_emails"]
        doc["device_mapping"] = [{"email": e, "source": "google_chrome_profiles"} for e in emails] or None
    return doc
