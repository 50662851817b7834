"""The AbuseIPDB provider against the /api/v2/check emulator (tests/emulators/abuseipdb.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from positron.providers.abuseipdb import AbuseIpdb
from positron.queries import IP_REPUTATION, Verdict
from pydantic import ValidationError

from positron.errors import ProviderAuthError, ProviderRateLimited, ProviderUnavailable, UnsupportedInput
from positron.provider import RateLimit
from positron.query import Answer, Lookup
from tests.emulators.abuseipdb import AbuseIpdbEmulator

KEY = "abuseipdb-test-key-7d9e1f"
MakeProvider = Callable[..., Any]


@pytest.fixture
async def abuse() -> AsyncIterator[AbuseIpdbEmulator]:
    async with AbuseIpdbEmulator(KEY) as emulator:
        emulator.add_ip("203.0.113.9", score=100, reports=412, users=97, tor=True)
        emulator.add_ip("198.51.100.7", score=40, reports=3, users=2)
        emulator.add_ip("192.0.2.44", score=5, reports=1, users=1)
        emulator.add_ip("8.8.8.8", score=0, reports=37, users=20, whitelisted=True, usage="Content Delivery Network")
        yield emulator


@pytest.fixture
def make_provider(abuse: AbuseIpdbEmulator) -> MakeProvider:
    @asynccontextmanager
    async def make(**config: Any) -> AsyncIterator[AbuseIpdb]:
        raw = {"type": "abuseipdb", "api_key": KEY, "base_url": abuse.base_url, **config}
        provider = AbuseIpdb("abuseipdb", AbuseIpdb.Config.model_validate(raw))
        await provider.open()
        try:
            yield provider
        finally:
            await provider.aclose()

    return make


async def ask(make_provider: MakeProvider, raw: str, **config: Any) -> list[Answer[Any]]:
    async with make_provider(**config) as provider:
        return await provider.ask(Lookup(IP_REPUTATION, IP_REPUTATION.normalize(raw)))


@pytest.mark.parametrize(
    ("ip", "verdict", "confidence"),
    [
        ("203.0.113.9", Verdict.MALICIOUS, 1.0),
        ("198.51.100.7", Verdict.SUSPICIOUS, 0.6),
        ("192.0.2.44", Verdict.UNKNOWN, 0.55),
        ("8.8.8.8", Verdict.HARMLESS, 1.0),
    ],
)
async def test_ip_reputation_score_to_verdict(
    make_provider: MakeProvider, abuse: AbuseIpdbEmulator, ip: str, verdict: Verdict, confidence: float
):
    (answer,) = await ask(make_provider, ip)
    assert answer.value.verdict == verdict and answer.value.total == 1
    assert answer.value.allowlisted == (verdict is Verdict.HARMLESS)
    assert answer.confidence == pytest.approx(confidence)
    assert answer.value.link == answer.source_ref == f"https://www.abuseipdb.com/check/{ip}"
    assert abuse.requests[-1]["query"] == {"ipAddress": ip, "maxAgeInDays": "90"}
    assert abuse.requests[-1]["headers"]["Key"] == KEY


async def test_the_label_and_the_report_time(make_provider: MakeProvider):
    (answer,) = await ask(make_provider, "203.0.113.9")
    assert answer.value.label == "tor exit node, abuse confidence 100% (412 reports)"
    assert answer.value.malicious == 1 and answer.observed_at == datetime(2026, 11, 30, 20, 55, 14, tzinfo=UTC)


async def test_never_reported_is_no_data(make_provider: MakeProvider):
    assert await ask(make_provider, "192.0.2.200") == []


async def test_thresholds_are_configurable(make_provider: MakeProvider):
    (answer,) = await ask(make_provider, "198.51.100.7", malicious_at=40)
    assert answer.value.verdict == Verdict.MALICIOUS


async def test_a_wrong_key_is_an_auth_error_without_the_key(make_provider: MakeProvider):
    with pytest.raises(ProviderAuthError) as info:
        await ask(make_provider, "203.0.113.9", api_key="wrong-key-xyz")
    assert "HTTP 401" in info.value.message and "wrong-key-xyz" not in str(info.value)


async def test_the_daily_quota_is_rate_limited_with_retry_after(make_provider: MakeProvider, abuse: AbuseIpdbEmulator):
    abuse.used = abuse.daily_quota
    with pytest.raises(ProviderRateLimited) as info:
        await ask(make_provider, "203.0.113.9")
    assert info.value.retry_after == 3600


async def test_server_errors_and_refused_values(make_provider: MakeProvider, abuse: AbuseIpdbEmulator):
    abuse.fail(503)
    with pytest.raises(ProviderUnavailable):
        await ask(make_provider, "203.0.113.9")
    abuse.fail(422)
    with pytest.raises(UnsupportedInput):
        await ask(make_provider, "203.0.113.9")


async def test_health_uses_the_key(make_provider: MakeProvider):
    async with make_provider() as provider:
        assert (await provider.health()).ok
    async with make_provider(api_key="nope") as provider:
        health = await provider.health()
    assert not health.ok and "credentials were refused" in health.detail


def test_defaults_external_with_the_free_plan_quota():
    config = AbuseIpdb.Config.model_validate({"type": "abuseipdb", "api_key": KEY})
    assert config.egress == "external" and config.rate_limits == [RateLimit(requests=1000, per_s=86_400)]
    with pytest.raises(ValidationError, match="suspicious_at must not be above malicious_at"):
        AbuseIpdb.Config.model_validate({"type": "abuseipdb", "api_key": KEY, "suspicious_at": 90})
