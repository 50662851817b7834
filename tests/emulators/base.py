"""What the asset and identity emulators share (fleet, crowdstrike, entra_id, elasticsearch): an aiohttp app on
127.0.0.1, a log of every request, and faults queued for the next requests (a status with a body and headers, or a
delay). Each emulator adds the real endpoints and shapes of its service."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Recorded:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)


@dataclass(slots=True)
class Fault:
    status: int | None  # None: only the delay, then the normal answer
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    content_type: str = JSON


class Emulator:
    """Subclasses add routes in ``routes(app)`` and call ``await self.enter(request)`` first in each handler."""

    def __init__(self, *, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.requests: list[Recorded] = []
        self._faults: deque[Fault] = deque()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> str:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self.base_url

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Any:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # faults

    def fail(self, status: int, doc: Any, *, headers: dict[str, str] | None = None, times: int = 1) -> None:
        """The next ``times`` requests get ``status`` with ``doc`` as JSON (or bytes as they are)."""
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        for _ in range(times):
            self._faults.append(Fault(status, body, dict(headers or {})))

    def hang(self, seconds: float, *, times: int = 1) -> None:
        for _ in range(times):
            self._faults.append(Fault(None, delay_s=seconds))

    # for handlers

    async def enter(self, request: web.Request) -> web.Response | None:
        """Log the request, apply latency and the next fault; a response to send instead, or None."""
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded(request.method, request.path, list(request.query.items()), headers, body))
        await self.sleep(self.latency_s)
        fault = self._faults.popleft() if self._faults else None
        if fault is None:
            return None
        await self.sleep(fault.delay_s)
        if fault.status is None:
            return None
        return web.Response(
            status=fault.status, body=fault.body, headers=fault.headers, content_type=fault.content_type
        )

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            pass


def json_response(status: int, doc: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(doc).encode(), content_type=JSON, headers=headers or {})
