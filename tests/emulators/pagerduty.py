"""A wire-faithful emulator of the parts of the PagerDuty REST API v2 that the provider uses.

Endpoints: ``GET /oncalls`` (filters ``escalation_policy_ids[]``, ``schedule_ids[]``, ``user_ids[]``, each
ANDed with the others as PagerDuty does; ``since``/``until`` overlap, defaulting to now; ``include[]=users``;
``time_zone``; ``limit``/``offset``/``total`` pagination) and ``GET /abilities``. Authentication is
``Authorization: Token token=<key>``; errors use PagerDuty's body
``{"error": {"message": ..., "code": ..., "errors": [...]}}``.

Usage::

    emu = PagerDutyEmulator(api_key="k")
    emu.add_oncall(user="Jane Doe", email="jane@example.com", escalation_policy_id="PEP1", start=..., end=...)
    base_url = await emu.start()
    ...
    await emu.stop()

``emu.requests`` logs every request; ``emu.force_next(status, ...)`` forces a reply (errors, malformed
bodies); ``emu.delay_s`` stalls every reply.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

HTML_BASE = "https://acme.pagerduty.com"
API_BASE = "https://api.pagerduty.com"
DEFAULT_LIMIT = 25
MAX_LIMIT = 100


@dataclass
class SeededOnCall:
    user_id: str
    user: str
    email: str
    escalation_policy_id: str
    escalation_level: int = 1
    schedule_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.query if k == name]


@dataclass
class ForcedReply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    path: str | None = None


def pd_error(status: int, message: str, code: int, errors: list[str] | None = None) -> web.Response:
    body: dict[str, Any] = {"error": {"message": message, "code": code}}
    if errors:
        body["error"]["errors"] = errors
    return web.json_response(body, status=status)


def _parse_time(raw: str) -> datetime:
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _render_time(value: datetime | None, zone: ZoneInfo) -> str | None:
    """PagerDuty renders times in the requested zone, with ``Z`` for UTC."""
    if value is None:
        return None
    return value.astimezone(zone).isoformat().replace("+00:00", "Z")


class PagerDutyEmulator:
    def __init__(self, api_key: str, *, account_time_zone: str = "America/New_York") -> None:
        self.api_key = api_key
        self.account_time_zone = account_time_zone
        self.oncalls: list[SeededOnCall] = []
        self.abilities: list[str] = ["teams", "read_only_users", "service_support_hours", "urgencies"]
        self.requests: list[RecordedRequest] = []
        self.forced: list[ForcedReply] = []
        self.delay_s = 0.0
        self.base_url = ""  # set by start()
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None

    # --- seeding and control ---

    def add_oncall(
        self,
        *,
        user: str,
        email: str,
        escalation_policy_id: str,
        escalation_level: int = 1,
        schedule_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        user_id: str | None = None,
    ) -> SeededOnCall:
        entry = SeededOnCall(
            user_id=user_id or "PU" + "".join(w[0] for w in user.split()).upper() + str(len(self.oncalls)),
            user=user,
            email=email,
            escalation_policy_id=escalation_policy_id,
            escalation_level=escalation_level,
            schedule_id=schedule_id,
            start=start,
            end=end,
        )
        self.oncalls.append(entry)
        return entry

    def force_next(
        self,
        status: int,
        body: dict[str, Any] | bytes | None = None,
        *,
        headers: dict[str, str] | None = None,
        count: int = 1,
        path: str | None = None,
    ) -> None:
        """The next ``count`` requests (to ``path``, or any) get this reply instead of the real one."""
        if body is None:
            body = {"error": {"message": "Internal Server Error", "code": 2000}}
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        for _ in range(count):
            self.forced.append(ForcedReply(status, raw, dict(headers or {}), path))

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    # --- lifecycle ---

    async def start(self) -> str:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/oncalls", self._oncalls)
        app.router.add_get("/abilities", self._abilities)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- request pipeline ---

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(
            RecordedRequest(request.method, request.path, list(request.query.items()), dict(request.headers))
        )
        if self.delay_s:
            try:
                await asyncio.wait_for(self._stopping.wait(), self.delay_s)
            except TimeoutError:
                pass
        for i, forced in enumerate(self.forced):
            if forced.path is None or forced.path == request.path:
                del self.forced[i]
                return web.Response(
                    status=forced.status,
                    body=forced.body,
                    headers=forced.headers,
                    content_type="application/json",
                )
        if request.headers.get("Authorization") != f"Token token={self.api_key}":
            return pd_error(401, "Authentication failed", 2006)
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPNotFound:
            return pd_error(404, "Not Found", 2100)
        return response

    async def _abilities(self, request: web.Request) -> web.Response:
        return web.json_response({"abilities": self.abilities})

    async def _oncalls(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            limit = min(int(query.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
            offset = int(query.get("offset", 0))
            now = datetime.now(UTC)
            since = _parse_time(query["since"]) if "since" in query else now
            until = _parse_time(query["until"]) if "until" in query else now
            zone = ZoneInfo(query.get("time_zone", self.account_time_zone))
        except (ValueError, KeyError):
            return pd_error(400, "Invalid Input Provided", 2001, ["Invalid parameter value"])
        if limit < 1 or offset < 0:
            return pd_error(400, "Invalid Input Provided", 2001, ["Limit and offset must be positive"])
        if until < since:
            return pd_error(
                400, "Invalid 'since' or 'until' Parameter Values", 2004, ["until is before since"]
            )
        matches = [e for e in self.oncalls if self._matches(e, query, since, until)]
        page = matches[offset : offset + limit]
        include_users = "users" in query.getall("include[]", [])
        return web.json_response(
            {
                "oncalls": [self._render(e, include_users, zone) for e in page],
                "limit": limit,
                "offset": offset,
                "more": offset + limit < len(matches),
                "total": len(matches) if query.get("total") == "true" else None,
            }
        )

    @staticmethod
    def _matches(entry: SeededOnCall, query: Any, since: datetime, until: datetime) -> bool:
        policies = query.getall("escalation_policy_ids[]", [])
        schedules = query.getall("schedule_ids[]", [])
        users = query.getall("user_ids[]", [])
        if policies and entry.escalation_policy_id not in policies:
            return False
        if schedules and (entry.schedule_id or "null") not in schedules:
            return False
        if users and entry.user_id not in users:
            return False
        starts_in_time = entry.start is None or entry.start <= until
        ends_in_time = entry.end is None or entry.end > since
        return starts_in_time and ends_in_time

    def _render(self, entry: SeededOnCall, include_users: bool, zone: ZoneInfo) -> dict[str, Any]:
        user: dict[str, Any] = {
            "id": entry.user_id,
            "type": "user_reference",
            "summary": entry.user,
            "self": f"{API_BASE}/users/{entry.user_id}",
            "html_url": f"{HTML_BASE}/users/{entry.user_id}",
        }
        if include_users:
            user |= {"type": "user", "name": entry.user, "email": entry.email, "time_zone": str(zone)}
        policy = entry.escalation_policy_id
        schedule = entry.schedule_id
        return {
            "escalation_policy": {
                "id": policy,
                "type": "escalation_policy_reference",
                "summary": f"Policy {policy}",
                "self": f"{API_BASE}/escalation_policies/{policy}",
                "html_url": f"{HTML_BASE}/escalation_policies/{policy}",
            },
            "escalation_level": entry.escalation_level,
            "schedule": None
            if schedule is None
            else {
                "id": schedule,
                "type": "schedule_reference",
                "summary": f"Schedule {schedule}",
                "self": f"{API_BASE}/schedules/{schedule}",
                "html_url": f"{HTML_BASE}/schedules/{schedule}",
            },
            "user": user,
            "start": _render_time(entry.start, zone),
            "end": _render_time(entry.end, zone),
        }
