"""A wire-faithful emulator of the GreyNoise endpoints Positron uses (aiohttp.web on 127.0.0.1).

Community ``GET /v3/community/{ip}``: ``{"ip", "noise", "riot", "classification", "name", "link", "last_seen",
"message": "Success"}``; an address neither scanning nor in RIOT → 404 ``{"ip", "noise": false, "riot": false,
"message": "IP not observed scanning the internet or contained in RIOT data set."}``; the quota spent → 429
``{"plan", "rate-limit", "plan_url", "message"}``; a wrong ``key`` → 401. The key is optional here.
Enterprise ``GET /v2/noise/context/{ip}``: ``{"ip", "seen": true, "classification", "first_seen", "last_seen",
"actor", "tags", "spoofable", "bot", "vpn", "cve", "metadata", "raw_data"}`` or ``{"ip", "seen": false}``;
``GET /v2/riot/{ip}``: ``{"ip", "riot": true, "category", "name", "description", "explanation", "last_updated",
"trust_level"}`` or ``{"ip", "riot": false}``. Both need the ``key`` header (401 otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(slots=True)
class Noise:
    classification: str
    actor: str = "unknown"
    tags: list[str] = field(default_factory=list)
    last_seen: str = "2026-11-30"


@dataclass(slots=True)
class Riot:
    name: str
    trust_level: str = "1"
    category: str = "public_dns"


class GreyNoiseEmulator:
    def __init__(self, api_key: str = "gn-key", *, community_quota: int = 50) -> None:
        self.api_key = api_key
        self.community_quota = community_quota
        self.used = 0
        self.requests: list[dict[str, Any]] = []
        self.noise: dict[str, Noise] = {}
        self.riot: dict[str, Riot] = {}
        self._faults: list[int] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> GreyNoiseEmulator:
        app = web.Application()
        app.router.add_get("/v3/community/{ip}", self._community)
        app.router.add_get("/v2/noise/context/{ip}", self._context)
        app.router.add_get("/v2/riot/{ip}", self._riot)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def fail(self, status: int) -> None:
        self._faults.append(status)

    def _record(self, request: web.Request) -> web.Response | None:
        self.requests.append({"path": request.path, "headers": dict(request.headers)})
        if self._faults:
            status = self._faults.pop(0)
            return web.json_response({"message": f"emulated {status}"}, status=status)
        return None

    async def _community(self, request: web.Request) -> web.Response:
        if (fault := self._record(request)) is not None:
            return fault
        key = request.headers.get("key")
        if key is not None and key != self.api_key:
            return web.json_response({"message": "Authentication required"}, status=401)
        if self.used >= self.community_quota:
            doc = {
                "plan": "community",
                "rate-limit": f"{self.community_quota}-lookups/day",
                "plan_url": "https://greynoise.io/pricing",
                "message": f"You have hit your daily rate limit of {self.community_quota} requests",
            }
            return web.json_response(doc, status=429, headers={"Retry-After": "3600"})
        self.used += 1
        ip = request.match_info["ip"]
        noise, riot = self.noise.get(ip), self.riot.get(ip)
        if noise is None and riot is None:
            msg = "IP not observed scanning the internet or contained in RIOT data set."
            return web.json_response({"ip": ip, "noise": False, "riot": False, "message": msg}, status=404)
        doc = {
            "ip": ip,
            "noise": noise is not None,
            "riot": riot is not None,
            "classification": noise.classification if noise else "benign",
            "name": riot.name if riot else (noise.actor if noise else "unknown"),
            "link": f"https://viz.greynoise.io/ip/{ip}",
            "last_seen": noise.last_seen if noise else "2026-11-30",
            "message": "Success",
        }
        return web.json_response(doc)

    def _enterprise_auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("key") != self.api_key:
            return web.json_response({"message": "Authentication required"}, status=401)
        return None

    async def _context(self, request: web.Request) -> web.Response:
        if (denied := self._record(request) or self._enterprise_auth(request)) is not None:
            return denied
        ip = request.match_info["ip"]
        noise = self.noise.get(ip)
        if noise is None:
            return web.json_response({"ip": ip, "seen": False})
        return web.json_response(
            {
                "ip": ip,
                "seen": True,
                "classification": noise.classification,
                "first_seen": "2026-01-05",
                "last_seen": noise.last_seen,
                "actor": noise.actor,
                "tags": noise.tags,
                "spoofable": False,
                "bot": False,
                "vpn": False,
                "vpn_service": "",
                "cve": [],
                "metadata": {"asn": "AS64496", "country": "Netherlands", "organization": "Example Hosting"},
                "raw_data": {"scan": [{"port": 23, "protocol": "TCP"}], "web": {}, "ja3": []},
            }
        )

    async def _riot(self, request: web.Request) -> web.Response:
        if (denied := self._record(request) or self._enterprise_auth(request)) is not None:
            return denied
        ip = request.match_info["ip"]
        riot = self.riot.get(ip)
        if riot is None:
            return web.json_response({"ip": ip, "riot": False})
        return web.json_response(
            {
                "ip": ip,
                "riot": True,
                "category": riot.category,
                "name": riot.name,
                "description": f"{riot.name} service",
                "explanation": "A common business service.",
                "last_updated": "2026-11-30T00:00:00Z",
                "logo_url": "",
                "reference": "",
                "trust_level": riot.trust_level,
            }
        )
