"""Fault injection through a real uvicorn server: upstreams that hang, fail, send broken JSON, reset the
connection, drip their answer byte by byte or answer 429 with Retry-After. Every response must arrive within the
request deadline + 100 ms, with the right status per provider, and never as a 5xx."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from positron.demo import DATA
from tests.emulators.faulty import FaultyServer
from tests.reliability.helpers import AUTH, SHA256, serve, vt_body

DEADLINE_S = 1.0
# What the code controls is when the engine stops waiting: the server's own took_ms, checked against the deadline
# plus the event loop's lateness on a loaded machine. The client's wall clock only has to show that no hung
# upstream held the response for its own timeout (UPSTREAM_TIMEOUT_S).
SLACK_S = 0.5
UPSTREAM_TIMEOUT_S = 5.0
QUERY = "/v1/queries/HASH_REPUTATION"
QUERY_IP, IP = "IP_TO_HOSTNAME", "10.20.0.17"

# instance name → (emulator behaviour and settings, the provider's expected status and error code). A call cut at
# the deadline ends as "timeout" with code "deadline" (the request's) or "timeout" (the call's own, capped by it).
TIMEOUT = ("timeout", "deadline|timeout")
FAULTS: dict[str, tuple[dict[str, Any], tuple[str, str | None]]] = {
    "vt_ok": ({"behaviour": "ok", "latency_s": 0.05}, ("ok", None)),
    "vt_hang": ({"behaviour": "hang"}, TIMEOUT),
    "vt_500": ({"behaviour": "status", "status": 500, "body": b"Internal Server Error"}, ("error", "unavailable")),
    "vt_malformed": ({"behaviour": "malformed"}, ("error", "bad_response")),
    "vt_reset": ({"behaviour": "reset"}, ("error", "unavailable")),
    "vt_drip": ({"behaviour": "drip", "drip_interval_s": 0.02}, TIMEOUT),
    "vt_429": ({"behaviour": "retry_after", "retry_after": 30}, ("rate_limited", "rate_limited")),
}


@asynccontextmanager
async def upstreams() -> AsyncIterator[dict[str, FaultyServer]]:
    body = vt_body()
    async with AsyncExitStack() as stack:
        servers = {}
        for name, (settings, _) in FAULTS.items():
            server = FaultyServer(**{"body": body, **settings})
            servers[name] = await stack.enter_async_context(server)
        yield servers


def config(servers: dict[str, FaultyServer], **provider: Any) -> dict[str, Any]:
    return {
        # retries as configured by default: transient errors (500, reset) are retried, and still end as errors
        "engine": {"deadline_s": DEADLINE_S, "cache_entries": 0},
        "circuit": {"failures": 0},  # statuses stay those of the faults (circuits have their own tests)
        "security": {"audit": {"destination": None}},
        "providers": {
            name: {
                "type": "virustotal",
                "base_url": server.base_url,
                "api_key": "upstream-key-0123456789",
                "rate_limits": [],
                "timeout_s": UPSTREAM_TIMEOUT_S,  # longer than the deadline: the deadline must cut the slow ones
                **provider,
            }
            for name, server in servers.items()
        },
    }


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]


@asynccontextmanager
async def client(base: str) -> AsyncIterator[aiohttp.ClientSession]:
    """aiohttp as the client: light enough that its own overhead stays out of the timings."""
    async with aiohttp.ClientSession(base, headers=AUTH, timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def timed(session: aiohttp.ClientSession, path: str = QUERY, value: str = SHA256) -> tuple[float, Reply]:
    started = time.monotonic()
    async with session.post(path, json={"value": value}) as response:
        reply = Reply(response.status, await response.json(content_type=None))
    return time.monotonic() - started, reply


def check(elapsed: float, reply: Reply) -> dict[str, dict[str, Any]]:
    assert reply.status == 200, reply.body
    assert reply.body["took_ms"] <= (DEADLINE_S + SLACK_S) * 1000, f"engine took {reply.body['took_ms']} ms"
    assert elapsed < UPSTREAM_TIMEOUT_S, f"answered after {elapsed:.3f} s"
    return {p["name"]: p for p in reply.body["providers"]}


def _status(provider: dict[str, Any], expected: tuple[str, str | None]) -> tuple[str, str | None]:
    """The provider's (status, error code), with the code replaced by ``expected``'s when it is one it allows."""
    code = provider["error_code"]
    allowed = (expected[1] or "").split("|")
    return provider["status"], expected[1] if code in allowed else code


async def test_each_fault_gets_its_status_within_the_deadline(tmp_path: Path) -> None:
    async with upstreams() as servers:
        with serve(config(servers), tmp_path) as base:
            async with client(base) as session:
                alone = await timed(session)
                burst = await asyncio.gather(*(timed(session) for _ in range(20)))
    for elapsed, response in [alone, *burst]:
        statuses = check(elapsed, response)
        assert {n: _status(p, FAULTS[n][1]) for n, p in statuses.items()} == {n: f[1] for n, f in FAULTS.items()}
        assert [s["provider"] for s in response.body["answer"]["sources"]] == ["vt_ok"]
        assert statuses["vt_429"]["retry_after"] > 0
    assert check(*alone)["vt_429"]["retry_after"] == 30  # the upstream's Retry-After, then the pause counting down
    assert servers["vt_429"].requests == 1  # the 429 paused the instance: no more calls while Retry-After runs
    assert servers["vt_500"].requests >= 2 and servers["vt_reset"].requests >= 2  # transient: retried


async def test_short_provider_timeouts_retry_and_still_end_within_the_deadline(tmp_path: Path) -> None:
    """Provider timeouts (0.3 s) below the deadline: hang and drip time out, and the request still ends by the
    deadline with a timeout status for both. A timeout is not retried (positron.errors says why)."""
    async with upstreams() as servers:
        with serve(config(servers, timeout_s=0.3), tmp_path) as base:
            async with client(base) as session:
                results = await asyncio.gather(*(timed(session) for _ in range(10)))
    for elapsed, response in results:
        statuses = check(elapsed, response)
        assert statuses["vt_ok"]["status"] == "ok"
        for name in ("vt_hang", "vt_drip"):
            assert _status(statuses[name], TIMEOUT) == TIMEOUT
    # identical concurrent calls coalesce (single-flight); the flight's timeout was not retried: each of the
    # 10 requests costs the hanging upstream at most one call, not three
    assert 1 <= servers["vt_hang"].requests <= 10


async def test_with_circuit_breakers_failing_upstreams_are_skipped_fast_and_never_a_5xx(tmp_path: Path) -> None:
    async with upstreams() as servers:
        cfg = config(servers) | {"circuit": {"failures": 2, "cooldown_s": 60}}
        with serve(cfg, tmp_path) as base:
            async with client(base) as session:
                results = [await timed(session) for _ in range(4)]
    last = check(*results[-1])
    for elapsed, response in results:
        check(elapsed, response)
    for name in ("vt_500", "vt_malformed", "vt_reset", "vt_hang", "vt_drip"):
        assert (last[name]["status"], last[name]["error_code"]) == ("skipped", "circuit_open"), last[name]
    assert last["vt_ok"]["status"] == "ok"
    assert results[-1][1].body["took_ms"] < DEADLINE_S / 2 * 1000  # nothing to wait for: open circuits answer at once


async def test_a_blocking_library_that_hangs_in_its_thread_does_not_hold_the_response(tmp_path: Path) -> None:
    """Splunk's SDK is synchronous: its call runs in a worker thread, which cannot be cancelled. A hanging or
    resetting splunkd must still leave the request on time, with the inventory's answer."""
    async with FaultyServer("hang") as hang, FaultyServer("reset") as reset:
        search = {"spl": "index=dhcp ip={value} | table _time host", "field": "host"}
        splunk = {"type": "splunk", "host": "127.0.0.1", "scheme": "http", "token": "splunk-token-0123456789"}
        splunk["timeout_s"] = 1.5  # the SDK's own socket timeout frees the thread (and lets the server stop) soon
        cfg = {
            "engine": {"deadline_s": DEADLINE_S, "cache_entries": 0},
            "circuit": {"failures": 0},
            "security": {"audit": {"destination": None}},
            "providers": {
                "inventory": {"type": "static_inventory", "hosts": str(DATA / "hosts.csv")},
                **{
                    name: {**splunk, "port": int(server.base_url.rsplit(":", 1)[1]), "searches": {QUERY_IP: search}}
                    for name, server in (("splunk_hang", hang), ("splunk_reset", reset))
                },
            },
        }
        with serve(cfg, tmp_path) as base:
            async with client(base) as session:
                results = await asyncio.gather(*(timed(session, "/v1/queries/" + QUERY_IP, IP) for _ in range(5)))
    for elapsed, reply in results:
        statuses = check(elapsed, reply)
        assert (statuses["splunk_hang"]["status"], statuses["inventory"]["status"]) == ("timeout", "ok")
        assert (statuses["splunk_reset"]["status"], statuses["splunk_reset"]["error_code"]) == ("error", "unavailable")
        assert reply.body["answer"]["value"] == "ws-017.corp.example"
