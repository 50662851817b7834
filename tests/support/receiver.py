"""A local HTTP receiver for webhook callbacks (aiohttp.web on a free loopback port): records every request, and
can answer with given statuses, hold requests until released, or never answer in time."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web

from tests.support.servers import free_port


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    statuses: Sequence[int] = ()  # answered in turn; then 200
    hold: bool = False  # keep each request waiting until release()
    delay_s: float = 0.0
    requests: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _released: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook/tickets/42/comments"

    def release(self) -> None:
        self._released.set()

    async def _handle(self, request: web.Request) -> web.Response:
        seen = Received(request.path, dict(request.headers), await request.read())
        self.requests.append(seen)
        self.arrived.set()
        if self.hold:
            await self._released.wait()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        n = len(self.requests) - 1
        return web.Response(status=self.statuses[n] if n < len(self.statuses) else 200, text="ok")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
        assert self._runner is not None
        await self._runner.cleanup()
