"""Redis-backed state with engines in one process standing in for replicas, and Redis trouble: down from the
start, killed and restarted, frozen, holding garbage."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import uuid
from typing import Any

import pytest
import redis
from positron.queries import HASH_REPUTATION, IP_TO_HOSTNAME

from positron.config import EngineConfig
from positron.engine import Engine
from positron.state.backends import State, redis_state
from positron.telemetry.metrics import Metrics
from tests.state.conftest import redis_config
from tests.state.test_shared_state import SHA256, status
from tests.support.fakes import Fake, fake
from tests.support.redis_server import RedisServer, redis_server
from tests.support.servers import free_port


def replicas(
    server: RedisServer, *settings: dict[str, Any], local_cache_s: float = 0, **config: Any
) -> list[tuple[Engine, Fake]]:
    """Two engines sharing one Redis prefix, each with its own instance of the same provider (like two pods)."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    out = []
    for _ in range(2):
        provider = fake("vt", **settings[0]) if settings else fake("vt", answer="malicious")
        shared = redis_config(server, prefix, retry_s=0.1, local_cache_s=local_cache_s)
        state = redis_state(shared, metrics=Metrics())
        out.append((Engine([provider], EngineConfig(**config), state=state), provider))
    return out


async def close(*engines: Engine) -> None:
    for eng in engines:
        await eng.state.close()


async def test_replicas_share_cache_limits_and_flights(redis_srv: RedisServer) -> None:
    (a, pa), (b, pb) = replicas(
        redis_srv, {"answer": "malicious", "delay_s": 0.2, "rate_limits": [{"requests": 3, "per_s": 60}]}, deadline_s=1
    )
    try:
        burst = await asyncio.gather(*(eng.run(HASH_REPUTATION, SHA256) for eng in (a, b) for _ in range(20)))
        assert pa.calls + pb.calls == 1  # one upstream call for 40 requests over two replicas
        assert {status(r, "vt").status for r in burst} == {"ok"}
        hit = status(await b.run(HASH_REPUTATION, SHA256), "vt")
        assert hit.cached
        outcomes = [
            status(await eng.run(HASH_REPUTATION, f"{i:064x}"), "vt").status for i, eng in enumerate((a, b, a, b))
        ]
        assert outcomes == ["ok", "ok", "rate_limited", "rate_limited"]  # 3/minute, whoever asks
        assert pa.calls + pb.calls == 3
        assert a.metrics is not None and b.metrics is not None
        cluster = {"provider": "vt", "scope": "cluster"}
        joins = [
            m.registry.get_sample_value("positron_singleflight_joins_total", cluster) for m in (a.metrics, b.metrics)
        ]
        assert sum(j or 0 for j in joins) == 1  # one replica's leader waited for the other's flight
    finally:
        await close(a, b)


async def test_a_handed_off_error_reaches_the_other_replica_but_is_not_cached(redis_srv: RedisServer) -> None:
    (a, pa), (b, pb) = replicas(redis_srv, {"answer": "ws-1", "fail": "ProviderUnavailable", "delay_s": 0.2}, retries=0)
    try:
        burst = await asyncio.gather(*(eng.run(IP_TO_HOSTNAME, "10.1.2.3") for eng in (a, b) for _ in range(5)))
        assert pa.calls + pb.calls == 1
        assert {status(r, "vt").error_code for r in burst} == {"unavailable"}
        await a.run(IP_TO_HOSTNAME, "10.1.2.3")
        assert pa.calls + pb.calls == 2  # a later request asks again: errors are never cached
    finally:
        await close(a, b)


async def test_redis_down_from_the_start_falls_back_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    dead = RedisServer(free_port())  # never started: connection refused
    state = redis_state(redis_config(dead, "down", retry_s=0.1), metrics=Metrics())
    provider = fake("vt", answer="ws-1", rate_limits=[{"requests": 2, "per_s": 60}])
    eng = Engine([provider], EngineConfig(deadline_s=1), state=state)
    try:
        with caplog.at_level(logging.WARNING, logger="positron.state.redis"):
            results = [status(await eng.run(IP_TO_HOSTNAME, f"10.1.2.{i}"), "vt").status for i in range(3)]
        assert results == ["ok", "ok", "rate_limited"]  # the per-process buckets still hold the limit
        warnings = [r.getMessage() for r in caplog.records if "redis unavailable" in r.getMessage()]
        assert len(warnings) == 1 and "ConnectionError" in warnings[0]
        assert state.metrics is not None and state.redis is not None
        assert state.metrics.registry.get_sample_value("positron_redis_up") == 0
        assert not state.redis.up
    finally:
        await close(eng)


async def test_redis_killed_mid_run_then_restarted_sharing_resumes() -> None:
    with redis_server() as server:
        (a, pa), (b, pb) = replicas(server, {"answer": "ws-1"})
        try:
            await a.run(IP_TO_HOSTNAME, "10.1.2.3")
            assert status(await b.run(IP_TO_HOSTNAME, "10.1.2.3"), "vt").cached
            server.kill()
            during = [await eng.run(IP_TO_HOSTNAME, "10.1.2.4") for eng in (a, b, a)]
            assert [status(r, "vt").status for r in during] == ["ok", "ok", "ok"]
            assert [status(r, "vt").cached for r in during] == [False, False, False]  # misses, not failures
            server.start()  # an empty Redis on the same port
            await _until(
                lambda: (
                    a.state.redis is not None and a.state.redis.up and b.state.redis is not None and b.state.redis.up
                )
            )
            await a.run(IP_TO_HOSTNAME, "10.1.2.5")
            assert status(await b.run(IP_TO_HOSTNAME, "10.1.2.5"), "vt").cached
        finally:
            await close(a, b)


async def test_a_frozen_redis_costs_at_most_its_timeout() -> None:
    with redis_server() as server:
        state = redis_state(redis_config(server, "frozen", timeout_s=0.2, retry_s=0.1), metrics=Metrics())
        eng = Engine([fake("inv", answer="ws-1")], EngineConfig(deadline_s=5), state=state)
        try:
            await eng.run(IP_TO_HOSTNAME, "10.1.2.3")
            assert server.proc is not None
            server.proc.send_signal(signal.SIGSTOP)
            started = time.monotonic()
            first = await eng.run(IP_TO_HOSTNAME, "10.1.2.3")  # cache read times out: a miss
            second = await eng.run(IP_TO_HOSTNAME, "10.1.2.3")  # Redis is bypassed now
            assert time.monotonic() - started < 0.2 + 0.3
            assert status(first, "inv").status == status(second, "inv").status == "ok"
            server.proc.send_signal(signal.SIGCONT)
            await _until(lambda: state.redis is not None and state.redis.up)
        finally:
            if server.proc is not None:
                server.proc.send_signal(signal.SIGCONT)
            await close(eng)


async def test_garbage_in_redis_reads_as_a_miss(redis_srv: RedisServer) -> None:
    state: State = redis_state(redis_config(redis_srv, "garbage"), metrics=Metrics())
    provider = fake("inv", answer="ws-1")
    eng = Engine([provider], EngineConfig(), state=state)
    try:
        await eng.run(IP_TO_HOSTNAME, "10.1.2.3")
        with redis.Redis(port=redis_srv.port) as client:
            for key in client.scan_iter("garbage:c:*"):
                client.set(key, b"\x80not json")
        again = status(await eng.run(IP_TO_HOSTNAME, "10.1.2.3"), "inv")
        assert (again.status, again.cached, provider.calls) == ("ok", False, 2)
    finally:
        await close(eng)


async def _until(condition: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_local_near_cache_saves_round_trips_but_never_outlives_the_entry(redis_srv: RedisServer) -> None:
    (a, pa), (b, pb) = replicas(redis_srv, {"answer": "ws-1", "no_data_ttl_s": 0.3}, local_cache_s=0.6)
    (empty_a, _), (empty_b, _) = replicas(redis_srv, {"no_data_ttl_s": 0.3}, local_cache_s=5)
    try:
        await a.run(IP_TO_HOSTNAME, "10.1.2.3")
        assert status(await b.run(IP_TO_HOSTNAME, "10.1.2.3"), "vt").cached  # from Redis: the fill is shared
        before = _mgets(redis_srv)
        again = [status(await b.run(IP_TO_HOSTNAME, "10.1.2.3"), "vt") for _ in range(5)]
        assert all(s.cached for s in again) and _mgets(redis_srv) == before  # no round trip
        await asyncio.sleep(0.7)
        await b.run(IP_TO_HOSTNAME, "10.1.2.3")
        assert _mgets(redis_srv) == before + 1 and pa.calls + pb.calls == 1  # the local copy expired, Redis had it
        await empty_a.run(IP_TO_HOSTNAME, "10.1.2.3")
        assert status(await empty_b.run(IP_TO_HOSTNAME, "10.1.2.3"), "vt").cached
        await asyncio.sleep(0.4)  # "found nothing" expired after 0.3 s, though the near-cache keeps 5 s
        assert not status(await empty_b.run(IP_TO_HOSTNAME, "10.1.2.3"), "vt").cached
    finally:
        await close(a, b, empty_a, empty_b)


def _mgets(server: RedisServer) -> int:
    with redis.Redis(port=server.port) as client:
        stats: dict[str, Any] = client.info("commandstats")
        return int(stats.get("cmdstat_mget", {}).get("calls", 0))
