"""Positron's own CPU cost per request, layer by layer, without a network: each layer is called in this process
(uvloop) N times in a row with 4 in-process providers that answer at once (``Sleepy`` with delay 0), and the
figure is wall time per call (≈ CPU: nothing waits).

- baseline: ``asyncio.gather`` of 4 tasks that each ``await asyncio.sleep(0)`` (what any fan-out costs);
- ``Engine.run``: cache misses (cache off) and cache hits (in-memory);
- ``Guard.ask``: the engine plus authorization (ACL), egress/TLP and the audit line (to /dev/null);
- merge and the response body alone;
- the whole app through its ASGI interface (middleware, FastAPI routing, key check, body validation, JSON),
  cache hits and misses, audit on and off, against a bare FastAPI app answering a constant the same way.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import uvloop
from positron.queries import IP_TO_HOSTNAME

from bench.apps import bare_app
from bench.server import BENCH_KEY, POLICY
from bench.sleepy import Sleepy
from positron.api.app import create_app
from positron.api.schemas import result_body
from positron.broker import Broker
from positron.config import parse_settings
from positron.merge import Sourced, merge
from positron.query import Answer
from positron.registry import Registry

PATH = "/v1/queries/IP_TO_HOSTNAME"


def broker(cache: bool, audit: bool) -> Broker:
    registry = Registry.from_entry_points()
    registry.register(Sleepy)
    config = {
        "api_keys": [{"principal": "bench", "key": BENCH_KEY, "groups": ["automation"]}],
        "security": {"policy": str(POLICY), "audit": {"destination": "/dev/null" if audit else None}},
        "providers": {f"p{i}": {"type": "sleepy", "delay_s": 0} for i in range(4)},
        "engine": {"cache_entries": 10_000 if cache else 0},
    }
    return Broker(parse_settings(config, registry), registry)


async def per_call(fn: Callable[[int], Awaitable[Any]], n: int) -> float:
    """µs per call: ``n // 10`` warm-up calls, then the median of 5 blocks of ``n // 5``."""
    for i in range(n // 10):
        await fn(i)
    blocks = []
    for b in range(5):
        started = time.perf_counter()
        for i in range(n // 5):
            await fn(i + b * n)
        blocks.append((time.perf_counter() - started) / (n // 5) * 1e6)
    return sorted(blocks)[2]


def asgi_caller(app: Any, path: str, key: str | None, value: Callable[[int], str]) -> Callable[[int], Awaitable[Any]]:
    async def call(i: int) -> None:
        body = json.dumps({"value": value(i)}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if key:
            headers.append((b"authorization", f"Bearer {key}".encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8080),
            "state": {},
        }
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        assert status == [200], status

    return call


def _ip(i: int) -> str:
    return f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"


async def _layers(n: int) -> dict[str, float]:
    async def gather(i: int) -> None:
        await asyncio.gather(*(asyncio.sleep(0) for _ in range(4)))

    return {"gather": await per_call(gather, n), **await _engine(n, cache=False), **await _engine(n, cache=True)}


async def _engine(n: int, cache: bool) -> dict[str, float]:
    """Engine.run and Guard.ask, cache misses (fresh IPs, cache off) or hits; with hits also merge and the body."""
    b = broker(cache=cache, audit=True)
    await b.start()
    principal = b.authenticate(BENCH_KEY)
    suffix = "hit" if cache else "miss"
    value = (lambda i: "10.1.2.3") if cache else _ip
    out = {
        f"engine_{suffix}": await per_call(lambda i: b.engine.run(IP_TO_HOSTNAME, value(i)), n),
        f"guard_{suffix}": await per_call(lambda i: b.guard.ask(principal, IP_TO_HOSTNAME, value(i)), n),
    }
    if cache:
        result = await b.engine.run(IP_TO_HOSTNAME, "10.1.2.3")
        items = [Sourced(s.name, s.type, 1.0, Answer("ws-042.corp.example", 0.9)) for s in result.providers]
        now = datetime.now(UTC)
        out["merge"] = await per_call(lambda i: _async(merge, IP_TO_HOSTNAME, items, now), n)
        out["body"] = await per_call(lambda i: _async(lambda: json.dumps(result_body(result))), n)
    await b.close()
    return out


async def _async(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


async def _apps(n: int) -> dict[str, float]:
    out: dict[str, float] = {}
    bare = bare_app()
    out["bare_fastapi"] = await per_call(asgi_caller(bare, "/v1/queries/HASH_REPUTATION", None, _ip), n)
    for name, cache, audit, value in (
        ("app_hit", True, True, lambda i: "10.1.2.3"),
        ("app_hit_no_audit", True, False, lambda i: "10.1.2.3"),
        ("app_miss", False, True, _ip),
    ):
        app = create_app(broker(cache=cache, audit=audit))
        async with app.router.lifespan_context(app):
            out[name] = await per_call(asgi_caller(app, PATH, BENCH_KEY, value), n)
    return out


def measure(n: int = 5_000) -> dict[str, float]:
    layers = uvloop.run(_layers(n))
    apps = uvloop.run(_apps(n))
    return {k: round(v, 1) for k, v in {**layers, **apps}.items()}


if __name__ == "__main__":
    for name, us in measure().items():
        print(f"{name:20} {us:8.1f} µs")
