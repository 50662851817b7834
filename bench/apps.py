"""The reference servers Positron is measured against, each in its own process on 127.0.0.1:

- ``raw``: the same fan-out with no Positron around it, in minimal asyncio + aiohttp code (aiohttp.web on uvloop):
  check the bearer key, parse the JSON body, GET the hash from every upstream at once (one aiohttp session per
  upstream, as Positron has one per provider instance), parse each JSON answer and return the summed verdict counts.
- ``raw-asgi``: the same handler as a bare ASGI callable under uvicorn, which is Positron's server: the gap
  between it and ``raw`` is the server stack, not Positron.
- ``bare``: a bare FastAPI app under uvicorn: ``POST /v1/queries/HASH_REPUTATION`` validates a ``{"value"}`` body
  and answers a constant; ``GET /sleep`` answers after 20 ms (the HTTP stack's own latency floor).

    python -m bench.apps PORT raw KEY UPSTREAM_KEY UPSTREAM_URL...
    python -m bench.apps PORT raw-asgi KEY UPSTREAM_KEY UPSTREAM_URL...
    python -m bench.apps PORT bare
"""

from __future__ import annotations

import asyncio
import hmac
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import uvicorn
import uvloop
from aiohttp import web
from fastapi import FastAPI
from pydantic import BaseModel

CONSTANT = {"query": "HASH_REPUTATION", "answer": {"value": {"verdict": "malicious"}, "confidence": 1.0}}
Fanout = Callable[[bytes, str | None], Awaitable[tuple[int, bytes]]]


def make_fanout(key: str, upstreams: list[str], sessions: list[aiohttp.ClientSession]) -> Fanout:
    expected = f"Bearer {key}".encode()

    async def fetch(session: aiohttp.ClientSession, base: str, value: str) -> dict[str, Any]:
        async with session.get(f"{base}/api/v3/files/{value}") as resp:
            doc: dict[str, Any] = json.loads(await resp.read())
            return doc

    async def fanout(body: bytes, authorization: str | None) -> tuple[int, bytes]:
        if not hmac.compare_digest(expected, (authorization or "").encode()):
            return 401, b'{"error": "unauthenticated"}'
        value = json.loads(body)["value"]
        docs = await asyncio.gather(*(fetch(s, u, value) for s, u in zip(sessions, upstreams, strict=True)))
        totals: dict[str, int] = {}
        for doc in docs:
            for name, count in doc["data"]["attributes"]["last_analysis_stats"].items():
                totals[name] = totals.get(name, 0) + count
        return 200, json.dumps({"value": value, "sources": len(docs), "stats": totals}).encode()

    return fanout


def _sessions(upstream_key: str, count: int) -> list[aiohttp.ClientSession]:
    return [
        aiohttp.ClientSession(headers={"x-apikey": upstream_key}, timeout=aiohttp.ClientTimeout(total=5))
        for _ in range(count)
    ]


def raw_app(key: str, upstream_key: str, upstreams: list[str]) -> web.Application:
    app = web.Application()

    async def handle(request: web.Request) -> web.Response:
        status, body = await app["fanout"](await request.read(), request.headers.get("Authorization"))
        return web.Response(status=status, body=body, content_type="application/json")

    async def sessions(app: web.Application) -> Any:
        opened = _sessions(upstream_key, len(upstreams))
        app["fanout"] = make_fanout(key, upstreams, opened)
        yield
        for s in opened:
            await s.close()

    app.cleanup_ctx.append(sessions)
    app.router.add_post("/v1/queries/HASH_REPUTATION", handle)
    return app


class RawAsgi:
    """The raw handler as a plain ASGI app (no framework), for uvicorn."""

    def __init__(self, key: str, upstream_key: str, upstreams: list[str]) -> None:
        self.key, self.upstream_key, self.upstreams = key, upstream_key, upstreams
        self.fanout: Fanout | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                if message["type"] == "lifespan.startup":
                    self.fanout = make_fanout(
                        self.key, self.upstreams, _sessions(self.upstream_key, len(self.upstreams))
                    )
                    await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["method"] != "POST":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        auth = dict(scope["headers"]).get(b"authorization", b"").decode() or None
        assert self.fanout is not None
        status, out = await self.fanout(body, auth)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": out})


class Body(BaseModel):
    value: str


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/queries/HASH_REPUTATION")
    async def constant(body: Body) -> dict[str, Any]:
        return CONSTANT

    @app.get("/sleep")
    async def sleep() -> dict[str, str]:
        await asyncio.sleep(0.02)
        return {"slept": "20ms"}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main(argv: list[str] | None = None) -> None:
    port, kind, *rest = argv if argv is not None else sys.argv[1:]
    if kind == "raw":
        app = raw_app(rest[0], rest[1], rest[2:])
        app.router.add_get("/health", lambda r: _ok())
        web.run_app(app, host="127.0.0.1", port=int(port), access_log=None, print=None, loop=uvloop.new_event_loop())
    elif kind == "raw-asgi":
        uvicorn.run(
            RawAsgi(rest[0], rest[1], rest[2:]), host="127.0.0.1", port=int(port), log_level="warning", access_log=False
        )
    elif kind == "bare":
        uvicorn.run(bare_app(), host="127.0.0.1", port=int(port), log_level="warning", access_log=False)
    else:
        raise SystemExit(f"unknown app {kind!r}: raw, raw-asgi or bare")


async def _ok() -> web.Response:
    return web.Response(text="ok")


if __name__ == "__main__":
    main()
