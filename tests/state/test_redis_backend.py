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
from positron.state.redis import RedisState
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


async def test_a_frozen_redis_costs_a_few_timeouts_then_is_bypassed() -> None:
    with redis_server() as server:
        state = redis_state(redis_config(server, "frozen", timeout_s=0.2, retry_s=0.1), metrics=Metrics())
        eng = Engine([fake("inv", answer="ws-1")], EngineConfig(deadline_s=5), state=state)
        assert state.metrics is not None and state.redis is not None
        try:
            await eng.run(IP_TO_HOSTNAME, "10.1.2.3")
            assert server.proc is not None
            server.proc.send_signal(signal.SIGSTOP)
            first = await eng.run(IP_TO_HOSTNAME, "10.1.2.3")  # cache read and lock time out: then down
            errors = _redis_errors(state.metrics)
            second = await eng.run(IP_TO_HOSTNAME, "10.1.2.3")  # Redis is bypassed now
            assert status(first, "inv").status == status(second, "inv").status == "ok"
            assert errors == state.redis.failures and not state.redis.up
            assert _redis_errors(state.metrics) == errors  # the second request never touched Redis
            server.proc.send_signal(signal.SIGCONT)
            await _until(lambda: state.redis is not None and state.redis.up)
        finally:
            if server.proc is not None:
                server.proc.send_signal(signal.SIGCONT)
            await close(eng)


def _redis_errors(metrics: Metrics) -> float:
    return sum(
        s.value
        for family in metrics.registry.collect()
        for s in family.samples
        if s.name == "positron_redis_errors_total"
    )


async def test_late_replies_are_a_slow_moment_but_a_refused_connection_is_an_outage(redis_srv: RedisServer) -> None:
    """A timeout is what a busy event loop looks like: it counts, and only `failures` of them in a row, spread
    over more than one timeout, mark Redis down. A refused connection does at once."""
    state = RedisState(redis_config(redis_srv, "slow", timeout_s=0.05, failures=3))
    try:
        late = redis.exceptions.TimeoutError("Timeout reading from socket")
        pool_wait = redis.exceptions.ConnectionError("No connection available.")
        pool_wait.__cause__ = TimeoutError()
        for exc in (late, pool_wait, late, late):  # a burst of concurrent timeouts: one slow moment
            state.failed("cache_get", exc)
        assert state.up
        state.ok()
        await asyncio.sleep(0.06)
        state.failed("cache_get", late)
        state.failed("cache_get", late)
        await asyncio.sleep(0.06)
        assert state.up
        state.failed("cache_get", late)  # three in a row, over more than 0.05 s
        assert not state.up
        await _until(lambda: state.up)  # the probe finds it alive
        state.failed("cache_get", redis.exceptions.ConnectionError("Connection refused"))
        assert not state.up
    finally:
        await state.close()


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


async def test_single_flight_holds_over_two_replicas_burst_after_burst(redis_srv: RedisServer) -> None:
    """100 identical requests split over two replicas spend one upstream call, five bursts in a row (with the
    default Redis timeout: a busy moment must not turn into a second call)."""
    (a, pa), (b, pb) = replicas(redis_srv, {"answer": "malicious", "delay_s": 0.2}, deadline_s=30)
    try:
        calls = []
        for burst in range(5):
            before = pa.calls + pb.calls
            value = f"{burst:064x}"
            results = await asyncio.gather(*(eng.run(HASH_REPUTATION, value) for eng in (a, b) for _ in range(50)))
            assert {status(r, "vt").status for r in results} == {"ok"}
            calls.append(pa.calls + pb.calls - before)
        assert calls == [1] * 5
    finally:
        await close(a, b)


async def test_a_window_limit_holds_across_replicas(redis_srv: RedisServer) -> None:
    """4 per 20 s shared by two replicas: a concurrent burst of 10 over both lets exactly 4 through, and the
    refused ones are told when the first of them leaves the window. (A deadline of half the window: a wait for
    a slot can never fit, however slow the machine.)"""
    (a, pa), (b, pb) = replicas(
        redis_srv, {"answer": "malicious", "rate_limits": [{"requests": 4, "per_s": 20}]}, deadline_s=10
    )
    try:
        began = time.monotonic()
        burst = await asyncio.gather(*(eng.run(HASH_REPUTATION, f"{i:064x}") for i, eng in enumerate([a, b] * 5)))
        ended = time.monotonic()
        statuses = [status(r, "vt") for r in burst]
        assert pa.calls + pb.calls == 4
        assert sorted(s.status for s in statuses) == ["ok"] * 4 + ["rate_limited"] * 6
        for refused in (s for s in statuses if s.status == "rate_limited"):
            assert refused.retry_after is not None and 20 - (ended - began) - 0.01 <= refused.retry_after <= 20
        reports = [await eng.instances["vt"].limiter.report() for eng in (a, b)]
        assert [[q.remaining for q in r.buckets] for r in reports] == [[0], [0]]
    finally:
        await close(a, b)
