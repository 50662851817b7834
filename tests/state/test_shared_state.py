"""The cache, single-flight and rate-limit suite, run once per backend: in-memory and a real redis-server."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from positron.queries import HASH_REPUTATION, IP_TO_HOSTNAME

from positron.engine import Engine, ProviderStatus
from positron.telemetry.metrics import Metrics
from tests.state.conftest import BuildEngine
from tests.support.fakes import fake

SHA256 = "a" * 64


def status(result: Any, name: str) -> ProviderStatus:
    found: ProviderStatus = next(p for p in result.providers if p.name == name)
    return found


def sample(engine: Engine, metric: str, **labels: str) -> float:
    metrics = engine.metrics
    assert isinstance(metrics, Metrics)
    return metrics.registry.get_sample_value(metric, labels) or 0.0


async def test_a_cache_hit_says_cached_and_its_age_and_no_cache_asks_afresh(build: BuildEngine) -> None:
    inv = fake("inv", answer="ws-1")
    eng = build(inv)
    first = status(await eng.run(IP_TO_HOSTNAME, "10.1.2.3"), "inv")
    await asyncio.sleep(0.05)
    hit = await eng.run(IP_TO_HOSTNAME, " 10.1.2.3 ")  # the same normalized value
    assert (first.cached, first.age_s) == (False, None)
    assert status(hit, "inv").cached and status(hit, "inv").age_s >= 0.04  # type: ignore[operator]
    assert hit.merged.answer is not None and hit.merged.answer.value == "ws-1"
    assert inv.calls == 1
    fresh = status(await eng.run(IP_TO_HOSTNAME, "10.1.2.3", no_cache=True), "inv")
    assert not fresh.cached and inv.calls == 2
    assert sample(eng, "positron_cache_requests_total", provider="inv", result="hit") == 1
    assert sample(eng, "positron_cache_requests_total", provider="inv", result="miss") == 1


async def test_the_key_has_the_value_the_at_bucket_and_the_instance_config(build: BuildEngine) -> None:
    old = fake("inv", answer="ws-1", api_key="key-one")
    eng = build(old)
    await eng.run(IP_TO_HOSTNAME, "10.1.2.3")
    await eng.run(IP_TO_HOSTNAME, "10.1.2.4")  # another value: a miss
    await eng.run(IP_TO_HOSTNAME, "10.1.2.3", at=_at(0))
    await eng.run(IP_TO_HOSTNAME, "10.1.2.3", at=_at(30))  # the same 60 s bucket: a hit
    await eng.run(IP_TO_HOSTNAME, "10.1.2.3", at=_at(3600))
    assert old.calls == 4
    rotated = fake("inv", answer="ws-2", api_key="key-two")  # a changed credential: never the old answers
    again = build(rotated, state=eng.state)
    result = await again.run(IP_TO_HOSTNAME, "10.1.2.3")
    assert rotated.calls == 1 and result.merged.answer is not None and result.merged.answer.value == "ws-2"


def _at(offset_s: int) -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime(2026, 11, 20, 12, 0, tzinfo=UTC) + timedelta(seconds=offset_s)


async def test_no_data_is_cached_shorter_than_answers(build: BuildEngine) -> None:
    empty = fake("empty", no_data_ttl_s=0.3)
    full = fake("full", answer="ws-1", no_data_ttl_s=0.3)
    eng = build(empty, full)
    await eng.run(IP_TO_HOSTNAME, "10.1.2.3")
    cached = await eng.run(IP_TO_HOSTNAME, "10.1.2.3")
    assert status(cached, "empty").status == "no_data" and status(cached, "empty").cached
    await asyncio.sleep(0.4)
    later = await eng.run(IP_TO_HOSTNAME, "10.1.2.3")
    assert not status(later, "empty").cached and status(later, "full").cached
    assert (empty.calls, full.calls) == (2, 1)


async def test_an_instance_can_turn_caching_off_or_shorten_it(build: BuildEngine) -> None:
    live = fake("live", answer="ws-1", cache_ttl_s=0)
    brief = fake("brief", answer="ws-1", cache_ttl_s=0.2)
    eng = build(live, brief)
    for _ in range(3):
        await eng.run(IP_TO_HOSTNAME, "10.1.2.3")
    await asyncio.sleep(0.3)
    await eng.run(IP_TO_HOSTNAME, "10.1.2.3")
    assert (live.calls, brief.calls) == (4, 2)


async def test_errors_are_never_cached(build: BuildEngine) -> None:
    flaky = fake("flaky", answer="ws-1", fail="ProviderAuthError", fail_times=1)
    eng = build(flaky)
    assert status(await eng.run(IP_TO_HOSTNAME, "10.1.2.3"), "flaky").status == "error"
    second = status(await eng.run(IP_TO_HOSTNAME, "10.1.2.3"), "flaky")
    assert (second.status, second.cached) == ("ok", False)
    assert flaky.calls == 2


async def test_concurrent_identical_calls_spend_one_upstream_call(build: BuildEngine) -> None:
    vt = fake("vt", answer="malicious", delay_s=0.2)
    eng = build(vt)
    results = await asyncio.gather(*(eng.run(HASH_REPUTATION, SHA256) for _ in range(100)))
    assert vt.calls == 1
    assert {status(r, "vt").status for r in results} == {"ok"}
    assert all(r.merged.answer is not None and r.merged.answer.value.verdict == "malicious" for r in results)
    # Every other request joined the flight in the process, or (a cache read that came back after the flight
    # ended, on a loaded machine) read its answer from the cache or through the Redis lock: never a second call.
    scopes = ("process", "cluster")
    joined = sum(sample(eng, "positron_singleflight_joins_total", provider="vt", scope=s) for s in scopes)
    hits = sample(eng, "positron_cache_requests_total", provider="vt", result="hit")
    assert joined + hits == 99


async def test_a_failed_flight_fails_its_joiners_without_more_calls(build: BuildEngine) -> None:
    down = fake("down", answer="ws-1", fail="ProviderUnavailable", delay_s=0.1)
    eng = build(down, retries=0)
    results = await asyncio.gather(*(eng.run(IP_TO_HOSTNAME, "10.1.2.3") for _ in range(20)))
    assert down.calls == 1
    assert {(status(r, "down").status, status(r, "down").error_code) for r in results} == {("error", "unavailable")}


async def test_a_joiner_takes_over_when_the_leader_is_cancelled(build: BuildEngine) -> None:
    slow = fake("slow", answer="ws-1", delay_s=0.3, timeout_s=5)
    eng = build(slow, deadline_s=5)
    leader = asyncio.create_task(eng.run(IP_TO_HOSTNAME, "10.1.2.3"))
    await asyncio.sleep(0.05)
    joiner = asyncio.create_task(eng.run(IP_TO_HOSTNAME, "10.1.2.3"))
    await asyncio.sleep(0.05)
    leader.cancel()
    result = await joiner
    assert status(result, "slow").status == "ok" and slow.calls == 2


async def test_a_full_window_waits_when_the_slot_frees_before_the_deadline(build: BuildEngine) -> None:
    vt = fake("vt", answer="ws-1", rate_limits=[{"requests": 1, "per_s": 1}])
    eng = build(vt, deadline_s=5)
    await eng.run(IP_TO_HOSTNAME, "10.1.2.3")
    second = status(await eng.run(IP_TO_HOSTNAME, "10.1.2.4"), "vt")
    assert second.status == "ok" and vt.calls == 2
    assert sample(eng, "positron_ratelimit_waits_total", provider="vt") == 1


async def test_a_full_window_is_rate_limited_until_its_oldest_call_leaves_it(build: BuildEngine) -> None:
    """4 per 10 s is a moving window: after a burst of 4, nothing more goes for 10 s (a token bucket would let a
    5th call through 2.5 s later), and retry_after is the time until the burst's first call leaves the window."""
    vt = fake("vt", answer="ws-1", rate_limits=[{"requests": 4, "per_s": 10}, {"requests": 500, "per_s": 86_400}])
    eng = build(vt, deadline_s=1)
    began = time.monotonic()
    results = [status(await eng.run(IP_TO_HOSTNAME, f"10.1.2.{i}"), "vt") for i in range(6)]
    ended = time.monotonic()
    assert [r.status for r in results] == ["ok"] * 4 + ["rate_limited"] * 2
    for refused in results[4:]:
        assert refused.retry_after is not None and 10 - (ended - began) - 0.01 <= refused.retry_after <= 10
    await asyncio.sleep(3)  # a bucket refilling 4 per 10 s has a token again by now; the window has no slot
    later = status(await eng.run(IP_TO_HOSTNAME, "10.1.2.9"), "vt")
    assert later.status == "rate_limited" and later.retry_after is not None and later.retry_after <= 7.01
    assert vt.calls == 4
    report = await eng.instances["vt"].limiter.report()
    assert [(q.requests, q.remaining) for q in report.buckets] == [(4, 0), (500, 496)]


async def test_no_more_than_the_limit_in_any_window_under_steady_load(build: BuildEngine) -> None:
    """Requests back to back for under one window of 2 s: at most 4 calls (a 4/2 s bucket allows 7 or 8)."""
    vt = fake("vt", answer="ws-1", rate_limits=[{"requests": 4, "per_s": 2}])
    eng = build(vt, deadline_s=0.05)
    began, i = time.monotonic(), 0
    while time.monotonic() - began < 1.9:
        await eng.run(IP_TO_HOSTNAME, f"10.1.3.{i % 250}", no_cache=True)
        i += 1
        await asyncio.sleep(0.01)
    windows = math.ceil((time.monotonic() - began) / 2)  # a loaded machine only makes the bound looser
    assert vt.calls <= 4 * windows and vt.calls >= 4


async def test_an_upstream_429_pauses_the_instance(build: BuildEngine) -> None:
    limited = fake("vt", answer="ws-1", fail="ProviderRateLimited")  # answers 429 with Retry-After: 30
    eng = build(limited, retries=0)
    first = status(await eng.run(IP_TO_HOSTNAME, "10.1.2.3"), "vt")
    second = status(await eng.run(IP_TO_HOSTNAME, "10.9.9.9"), "vt")
    assert (first.status, first.retry_after) == ("rate_limited", 30)
    assert second.status == "rate_limited" and second.retry_after is not None and 29 < second.retry_after <= 30
    assert limited.calls == 1
    report = await eng.instances["vt"].limiter.report()
    assert 29 < report.paused_s <= 30


async def test_every_outcome_is_counted_and_timed(build: BuildEngine) -> None:
    eng = build(fake("inv", answer="ws-1"), fake("empty"))
    await eng.run(IP_TO_HOSTNAME, "10.1.2.3")
    await eng.run(IP_TO_HOSTNAME, "10.1.2.3")
    labels = {"query": "IP_TO_HOSTNAME"}
    assert sample(eng, "positron_provider_status_total", provider="inv", status="ok", **labels) == 2
    assert sample(eng, "positron_provider_status_total", provider="empty", status="no_data", **labels) == 2
    assert sample(eng, "positron_provider_call_seconds_count", provider="inv", **labels) == 1  # hits are not calls
