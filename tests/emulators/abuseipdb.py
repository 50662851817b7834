"""A wire-faithful emulator of AbuseIPDB's ``GET /api/v2/check`` (aiohttp.web on 127.0.0.1).

The real shape: ``{"data": {"ipAddress", "isPublic", "ipVersion", "isWhitelisted", "abuseConfidenceScore",
"countryCode", "usageType", "isp", "domain", "hostnames", "isTor", "totalReports", "numDistinctUsers",
"lastReportedAt"}}`` for any address (unreported ones score 0 with ``lastReportedAt: null``); errors as
``{"errors": [{"detail", "status", "source"?}]}``: a missing or wrong ``Key`` → 401, a bad ``ipAddress`` or
``maxAgeInDays`` → 422, the daily quota spent → 429 with ``Retry-After`` and ``X-RateLimit-Reset`` (epoch
seconds). Every answer carries ``X-RateLimit-Limit`` / ``X-RateLimit-Remaining``.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

AUTH_FAILED = (
    "Authentication failed. Your API key is either missing, incorrect, or revoked. Note: The APIv2 key differs "
    "from the APIv1 key."
)


@dataclass(slots=True)
class Seeded:
    score: int
    reports: int
    users: int
    whitelisted: bool
    tor: bool
    last_reported: str | None
    usage: str


class AbuseIpdbEmulator:
    def __init__(self, api_key: str = "abuseipdb-key", *, daily_quota: int = 1000) -> None:
        self.api_key = api_key
        self.daily_quota = daily_quota
        self.used = 0
        self.requests: list[dict[str, Any]] = []
        self._ips: dict[str, Seeded] = {}
        self._faults: list[int] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/api/v2/check", self._check)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> AbuseIpdbEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def add_ip(
        self,
        ip: str,
        *,
        score: int,
        reports: int = 10,
        users: int = 5,
        whitelisted: bool = False,
        tor: bool = False,
        last_reported: str | None = "2026-11-30T20:55:14+00:00",
        usage: str = "Data Center/Web Hosting/Transit",
    ) -> None:
        self._ips[ipaddress.ip_address(ip).compressed] = Seeded(
            score, reports, users, whitelisted, tor, last_reported, usage
        )

    def fail(self, status: int) -> None:
        self._faults.append(status)

    def _headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.daily_quota), "X-RateLimit-Remaining": str(self.daily_quota - self.used)}

    async def _check(self, request: web.Request) -> web.Response:
        self.requests.append({"query": dict(request.query), "headers": dict(request.headers)})
        if self._faults:
            status = self._faults.pop(0)
            return _errors(status, f"emulated {status}", self._headers())
        if request.headers.get("Key") != self.api_key:
            return _errors(401, AUTH_FAILED)
        if self.used >= self.daily_quota:
            reset = int(time.time()) + 3600
            headers = {**self._headers(), "Retry-After": "3600", "X-RateLimit-Reset": str(reset)}
            detail = f"Daily rate limit of {self.daily_quota} requests exceeded for this endpoint."
            return _errors(429, detail + " See headers for additional details.", headers)
        self.used += 1
        try:
            address = ipaddress.ip_address(request.query.get("ipAddress", ""))
        except ValueError:
            return _errors(422, "The ip address must be a valid IP address.", self._headers(), "ipAddress")
        max_age = request.query.get("maxAgeInDays", "30")
        if not max_age.isdigit() or not 1 <= int(max_age) <= 365:
            return _errors(422, "The max age in days must be between 1 and 365.", self._headers(), "maxAgeInDays")
        return web.json_response({"data": self._data(address)}, headers=self._headers())

    def _data(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> dict[str, Any]:
        seeded = self._ips.get(address.compressed) or Seeded(0, 0, 0, False, False, None, "Fixed Line ISP")
        return {
            "ipAddress": address.compressed,
            "isPublic": address.is_global,
            "ipVersion": address.version,
            "isWhitelisted": seeded.whitelisted,
            "abuseConfidenceScore": seeded.score,
            "countryCode": "NL",
            "usageType": seeded.usage,
            "isp": "Example Hosting B.V.",
            "domain": "example-hosting.nl",
            "hostnames": [],
            "isTor": seeded.tor,
            "totalReports": seeded.reports,
            "numDistinctUsers": seeded.users,
            "lastReportedAt": seeded.last_reported,
        }


def _errors(
    status: int, detail: str, headers: dict[str, str] | None = None, parameter: str | None = None
) -> web.Response:
    error: dict[str, Any] = {"detail": detail, "status": status}
    if parameter:
        error["source"] = {"parameter": parameter}
    return web.json_response({"errors": [error]}, status=status, headers=headers)
