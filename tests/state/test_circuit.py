"""Circuit breakers in the engine: open after N consecutive failures, skip while cooling down, one half-open
probe, health checks feeding the same state."""

from __future__ import annotations

import asyncio

from positron.queries import IP_TO_HOSTNAME

from positron.config import CircuitConfig, EngineConfig
from positron.engine import Engine
from positron.state.backends import memory_state
from positron.state.circuit import Circuit
from positron.telemetry.metrics import Metrics
from tests.state.test_shared_state import status
from tests.support.apps import broker
from tests.support.fakes import Fake, fake


def engine(*providers: Fake, failures: int = 3, cooldown_s: float = 0.3) -> Engine:
    return Engine(
        list(providers),
        EngineConfig(retries=0, deadline_s=2),
        state=memory_state(0, Metrics()),
        circuit=CircuitConfig(failures=failures, cooldown_s=cooldown_s),
    )


async def test_consecutive_failures_open_the_circuit_and_cached_answers_still_serve() -> None:
    down = fake("down", answer="ws-1", fail="ProviderUnavailable")
    eng = engine(down, fake("ok", answer="ws-1"))
    seen = [status(await eng.run(IP_TO_HOSTNAME, f"10.1.2.{i}"), "down") for i in range(5)]
    assert [s.status for s in seen] == ["error"] * 3 + ["skipped"] * 2
    assert seen[3].error_code == "circuit_open" and seen[3].error is not None and "3 consecutive" in seen[3].error
    assert down.calls == 3  # skipped calls never reach the source
    assert eng.instances["down"].circuit.state == "open"
    assert eng.metrics is not None
    assert eng.metrics.registry.get_sample_value("positron_circuit_state", {"provider": "down"}) == 2


async def test_after_the_cool_down_one_probe_closes_or_reopens_it() -> None:
    flaky = fake("flaky", answer="ws-1", fail="ProviderUnavailable", fail_times=4, delay_s=0.1)
    eng = engine(flaky)
    for i in range(3):
        await eng.run(IP_TO_HOSTNAME, f"10.1.2.{i}")
    await asyncio.sleep(0.35)
    probe_fails = await asyncio.gather(eng.run(IP_TO_HOSTNAME, "10.1.3.1"), eng.run(IP_TO_HOSTNAME, "10.1.3.2"))
    assert sorted(status(r, "flaky").error_code for r in probe_fails) == ["circuit_open", "unavailable"]
    assert eng.instances["flaky"].circuit.state == "open"  # the probe failed: open again at once
    await asyncio.sleep(0.35)
    probe_ok = status(await eng.run(IP_TO_HOSTNAME, "10.1.3.3"), "flaky")
    assert probe_ok.status == "ok" and eng.instances["flaky"].circuit.state == "closed"
    assert flaky.calls == 5


async def test_errors_that_say_nothing_about_health_do_not_open_it() -> None:
    picky = fake("picky", answer="ws-1", fail="UnsupportedInput")
    eng = engine(picky)
    results = [status(await eng.run(IP_TO_HOSTNAME, f"10.1.2.{i}"), "picky").status for i in range(5)]
    assert results == ["error"] * 5 and eng.instances["picky"].circuit.state == "closed"


async def test_a_hanging_provider_opens_it_by_timeouts() -> None:
    stuck = fake("stuck", answer="ws-1", hang=True, timeout_s=0.05)
    eng = engine(stuck, failures=2)
    results = [status(await eng.run(IP_TO_HOSTNAME, f"10.1.2.{i}"), "stuck").error_code for i in range(3)]
    assert results == ["timeout", "timeout", "circuit_open"]


async def test_zero_failures_turns_it_off() -> None:
    down = fake("down", answer="ws-1", fail="ProviderUnavailable")
    eng = engine(down, failures=0)
    results = [status(await eng.run(IP_TO_HOSTNAME, f"10.1.2.{i}"), "down").status for i in range(6)]
    assert results == ["error"] * 6


def test_health_checks_feed_the_same_state() -> None:
    circuit = Circuit(failures=2, cooldown_s=60)
    circuit.health(False)
    assert circuit.state == "closed"
    circuit.health(False)
    assert circuit.state == "open" and circuit.blocked() is not None
    circuit.health(True)  # a passing check ends the cool-down early: the next call probes
    assert circuit.state == "half_open" and circuit.blocked() is None
    circuit.check()
    circuit.success()
    assert circuit.state == "closed" and circuit.failures == 0


async def test_scheduled_health_checks_open_the_circuit_before_any_query() -> None:
    b = broker(
        {
            "down": {"type": "fake", "answer": "ws-1", "fail": "ProviderUnavailable"},
            "up": {"type": "fake", "answer": "x"},
        },
        circuit={"failures": 2, "cooldown_s": 60, "health_interval_s": 0.05},
    )
    await b.start()
    try:
        for _ in range(100):
            if b.engine.instances["down"].circuit.state == "open":
                break
            await asyncio.sleep(0.02)
        result = await b.engine.run(IP_TO_HOSTNAME, "10.1.2.3")
    finally:
        await b.close()
    assert status(result, "down").error_code == "circuit_open"
    assert status(result, "up").status == "ok" and b.engine.instances["up"].circuit.state == "closed"


async def test_a_rate_limited_source_is_probed_only_with_a_spare_token() -> None:
    b = broker({"vt": {"type": "fake", "answer": "ws-1", "rate_limits": [{"requests": 1, "per_s": 60}]}})
    await b.start()
    try:
        await b.engine.run(IP_TO_HOSTNAME, "10.1.2.3")  # spends the only token
        report = await b.health()
    finally:
        await b.close()
    assert report["vt"].detail == "not checked: rate limit reached" and report["vt"].ok
