"""The engine with inline fake providers: concurrency, deadlines, timeouts, failures, retries, cancellation."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from positron.queries import IP_REPUTATION, IP_TO_HOSTNAME

from positron.config import EngineConfig
from positron.engine import Engine
from positron.errors import InvalidInput, UnknownProvider
from positron.state.backends import memory_state
from tests.support.fakes import Fake, fake


def engine(*providers: Fake, cache: bool = False, **config: Any) -> Engine:
    return Engine(list(providers), EngineConfig(**config), state=memory_state() if cache else None)


def by_name(result: Any) -> dict[str, Any]:
    return {p.name: p for p in result.providers}


async def test_hanging_and_failing_providers_do_not_block_or_break_the_answer() -> None:
    providers = [
        fake("dhcp", answer="ws-042", delay_s=0.02),
        fake("inventory", answer="ws-042.corp.example", delay_s=0.03),
        fake("stuck", answer="never", hang=True, timeout_s=5),
        fake("broken", fail="ProviderUnavailable"),
    ]
    eng = engine(*providers, deadline_s=0.4, retries=0)
    started = time.monotonic()
    result = await eng.run(IP_TO_HOSTNAME, "10.1.2.3")
    elapsed = time.monotonic() - started
    assert elapsed < 0.4 + 0.1
    statuses = {n: p.status for n, p in by_name(result).items()}
    assert statuses == {"dhcp": "ok", "inventory": "ok", "stuck": "timeout", "broken": "error"}
    assert by_name(result)["broken"].error_code == "unavailable"
    assert result.merged.answer is not None
    assert result.merged.answer.value == "ws-042.corp.example"
    assert {s.provider for s in result.merged.answer.sources} == {"dhcp", "inventory"}
    await asyncio.sleep(0)
    assert providers[2].cancelled == 1  # the straggler was cancelled, not left running


async def test_providers_run_concurrently() -> None:
    providers = [fake(f"p{i}", answer="ws-1", delay_s=0.5) for i in range(4)]
    started = time.monotonic()
    result = await engine(*providers).run(IP_TO_HOSTNAME, "10.1.2.3")
    assert time.monotonic() - started < 2.0  # sequential is at least 2 s, however busy the machine
    assert result.merged.answer is not None and len(result.merged.answer.sources) == 4


async def test_per_provider_timeout_is_reported_as_timeout() -> None:
    result = await engine(fake("slow", answer="x", delay_s=1, timeout_s=0.05), retries=0).run(
        IP_TO_HOSTNAME, "10.1.2.3"
    )
    status = by_name(result)["slow"]
    assert status.status == "timeout" and status.error_code == "timeout"
    assert status.elapsed_ms < 500


async def test_transient_errors_are_retried_within_the_deadline() -> None:
    flaky = fake("flaky", answer="ws-1", fail="ProviderUnavailable", fail_times=1)
    result = await engine(flaky, retries=2, retry_backoff_s=0.01).run(IP_TO_HOSTNAME, "10.1.2.3")
    assert by_name(result)["flaky"].status == "ok"
    assert flaky.calls == 2


async def test_permanent_errors_are_not_retried() -> None:
    denied = fake("denied", answer="ws-1", fail="ProviderAuthError")
    result = await engine(denied, retries=3).run(IP_TO_HOSTNAME, "10.1.2.3")
    assert by_name(result)["denied"].error_code == "auth_failed"
    assert denied.calls == 1


async def test_rate_limited_carries_retry_after_and_pauses_the_instance() -> None:
    limited = fake("vt", answer="ws-1", fail="ProviderRateLimited")
    eng = engine(limited, retries=0)
    first = by_name(await eng.run(IP_TO_HOSTNAME, "10.1.2.3"))["vt"]
    assert (first.status, first.retry_after) == ("rate_limited", 30)
    second = by_name(await eng.run(IP_TO_HOSTNAME, "10.9.9.9"))["vt"]
    assert second.status == "rate_limited"
    assert limited.calls == 1  # paused: the second request never reached upstream


async def test_configured_rate_limit_answers_rate_limited_when_the_wait_does_not_fit() -> None:
    p = fake("vt", answer="ws-1", rate_limits=[{"requests": 1, "per_s": 60}])
    eng = engine(p, deadline_s=1)
    assert by_name(await eng.run(IP_TO_HOSTNAME, "10.1.2.3"))["vt"].status == "ok"
    second = by_name(await eng.run(IP_TO_HOSTNAME, "10.1.2.4"))["vt"]
    assert second.status == "rate_limited" and second.retry_after is not None and second.retry_after > 50


async def test_a_provider_bug_is_an_error_status_not_an_exception() -> None:
    result = await engine(fake("buggy", fail="KeyError"), fake("ok", answer="ws-1")).run(IP_TO_HOSTNAME, "10.1.2.3")
    assert by_name(result)["buggy"].status == "error"
    assert by_name(result)["buggy"].error == "provider failed unexpectedly"
    assert result.merged.answer is not None


async def test_no_data_is_not_an_error() -> None:
    result = await engine(fake("empty")).run(IP_TO_HOSTNAME, "10.1.2.3")
    assert by_name(result)["empty"].status == "no_data"
    assert result.merged.answer is None


async def test_cache_serves_answers_and_no_cache_bypasses_it() -> None:
    p = fake("inv", answer="ws-1")
    eng = engine(p, cache=True)
    await eng.run(IP_TO_HOSTNAME, "10.1.2.3")
    again = by_name(await eng.run(IP_TO_HOSTNAME, " 10.1.2.3 "))["inv"]  # same normalized value
    assert again.cached and again.age_s is not None and p.calls == 1
    fresh = by_name(await eng.run(IP_TO_HOSTNAME, "10.1.2.3", no_cache=True))["inv"]
    assert not fresh.cached and p.calls == 2


async def test_errors_are_never_cached() -> None:
    p = fake("flaky", answer="ws-1", fail="ProviderAuthError", fail_times=1)
    eng = engine(p, cache=True)
    assert by_name(await eng.run(IP_TO_HOSTNAME, "10.1.2.3"))["flaky"].status == "error"
    assert by_name(await eng.run(IP_TO_HOSTNAME, "10.1.2.3"))["flaky"].status == "ok"


async def test_provider_selection_and_unknown_names() -> None:
    eng = engine(fake("a", answer="ws-1"), fake("b", answer="ws-2"))
    result = await eng.run(IP_TO_HOSTNAME, "10.1.2.3", providers=["b"])
    assert [p.name for p in result.providers] == ["b"]
    with pytest.raises(UnknownProvider, match="'nope' is not configured"):
        await eng.run(IP_TO_HOSTNAME, "10.1.2.3", providers=["nope"])


async def test_skip_reasons_and_at_validation() -> None:
    eng = engine(fake("a", answer="ws-1"), fake("b", answer="ws-2"))
    result = await eng.run(IP_TO_HOSTNAME, "10.1.2.3", skip={"b": "denied"})
    assert (by_name(result)["b"].status, by_name(result)["b"].error) == ("skipped", "denied")
    with pytest.raises(InvalidInput, match="does not take 'at'"):
        await eng.run(IP_REPUTATION, "8.8.8.8", datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(InvalidInput, match="expected an IPv4"):
        await eng.run(IP_TO_HOSTNAME, "not-an-ip")


async def test_disabled_instances_are_not_asked() -> None:
    eng = engine(fake("on", answer="ws-1"), fake("off", answer="ws-2", enabled=False))
    result = await eng.run(IP_TO_HOSTNAME, "10.1.2.3")
    assert [p.name for p in result.providers] == ["on"]


async def test_a_backoff_that_would_outlast_the_deadline_reports_the_error_at_once() -> None:
    flaky = fake("flaky", answer="ws-1", fail="ProviderUnavailable")
    started = time.monotonic()
    result = await engine(flaky, retries=3, retry_backoff_s=5, deadline_s=0.5).run(IP_TO_HOSTNAME, "10.1.2.3")
    status = by_name(result)["flaky"]
    assert (status.status, status.error_code) == ("error", "unavailable")
    assert flaky.calls == 1 and time.monotonic() - started < 0.3


async def test_a_call_cut_by_the_request_deadline_says_so() -> None:
    slow = fake("slow", answer="ws-1", delay_s=2, timeout_s=5)
    result = await engine(slow, retries=0, deadline_s=0.2).run(IP_TO_HOSTNAME, "10.1.2.3")
    status = by_name(result)["slow"]
    assert status.status == "timeout"
    assert status.error in ("no answer before the request deadline", "request deadline reached")
