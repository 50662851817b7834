"""The GreyNoise provider, community and enterprise, against the GreyNoise emulator (tests/emulators/greynoise.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from positron.providers.greynoise import GreyNoise
from positron.queries import IP_REPUTATION, Verdict
from pydantic import ValidationError

from positron.errors import ProviderAuthError, ProviderRateLimited, ProviderUnavailable
from positron.provider import RateLimit
from positron.query import Answer, Lookup
from tests.emulators.greynoise import GreyNoiseEmulator, Noise, Riot

KEY = "gn-test-key-55aa"


@pytest.fixture
async def gn() -> AsyncIterator[GreyNoiseEmulator]:
    async with GreyNoiseEmulator(KEY) as emulator:
        emulator.noise["203.0.113.9"] = Noise("malicious", actor="unknown", tags=["Mirai", "Telnet Bruteforcer"])
        emulator.noise["198.51.100.7"] = Noise("unknown")
        emulator.noise["192.0.2.50"] = Noise("benign", actor="Shodan.io")
        emulator.riot["8.8.8.8"] = Riot("Google Public DNS")
        emulator.riot["192.0.2.60"] = Riot("Some CDN", trust_level="2", category="cdn")
        yield emulator


async def ask(gn: GreyNoiseEmulator, ip: str, **config: Any) -> list[Answer[Any]]:
    raw = {"type": "greynoise", "base_url": gn.base_url, "api_key": KEY, **config}
    provider = GreyNoise("greynoise", GreyNoise.Config.model_validate(raw))
    await provider.open()
    try:
        return await provider.ask(Lookup(IP_REPUTATION, IP_REPUTATION.normalize(ip)))
    finally:
        await provider.aclose()


@pytest.mark.parametrize("plan", ["community", "enterprise"])
@pytest.mark.parametrize(
    ("ip", "verdict", "confidence", "label"),
    [
        ("203.0.113.9", Verdict.MALICIOUS, 0.85, None),
        ("198.51.100.7", Verdict.SUSPICIOUS, 0.5, None),
        ("192.0.2.50", Verdict.HARMLESS, 0.8, "Shodan.io"),
        ("8.8.8.8", Verdict.HARMLESS, 0.9, "Google Public DNS"),
    ],
)
async def test_ip_reputation_classification_to_verdict(
    gn: GreyNoiseEmulator, plan: str, ip: str, verdict: Verdict, confidence: float, label: str | None
):
    (answer,) = await ask(gn, ip, plan=plan)
    assert (answer.value.verdict, answer.confidence) == (verdict, confidence)
    assert answer.value.link == answer.source_ref == f"https://viz.greynoise.io/ip/{ip}"
    if plan == "community" or ip != "203.0.113.9":
        assert answer.value.label == label
    else:
        assert answer.value.label == "Mirai, Telnet Bruteforcer"  # enterprise adds the tags
    assert all(r["headers"]["key"] == KEY for r in gn.requests)


async def test_enterprise_asks_riot_only_when_not_seen_scanning(gn: GreyNoiseEmulator):
    (riot,) = await ask(gn, "192.0.2.60", plan="enterprise")
    assert (riot.value.verdict, riot.confidence) == (Verdict.HARMLESS, 0.7)
    assert riot.observed_at == datetime(2026, 11, 30, tzinfo=UTC)
    assert [r["path"] for r in gn.requests] == ["/v2/noise/context/192.0.2.60", "/v2/riot/192.0.2.60"]
    gn.requests.clear()
    await ask(gn, "203.0.113.9", plan="enterprise")
    assert [r["path"] for r in gn.requests] == ["/v2/noise/context/203.0.113.9"]


@pytest.mark.parametrize("plan", ["community", "enterprise"])
async def test_not_observed_is_no_data(gn: GreyNoiseEmulator, plan: str):
    assert await ask(gn, "192.0.2.200", plan=plan) == []


async def test_community_works_without_a_key_and_its_quota_is_rate_limited(gn: GreyNoiseEmulator):
    (answer,) = await ask(gn, "8.8.8.8", api_key=None)
    assert answer.value.verdict == Verdict.HARMLESS and "key" not in gn.requests[-1]["headers"]
    gn.used = gn.community_quota
    with pytest.raises(ProviderRateLimited) as info:
        await ask(gn, "8.8.8.8")
    assert info.value.retry_after == 3600


async def test_errors(gn: GreyNoiseEmulator):
    with pytest.raises(ProviderAuthError) as info:
        await ask(gn, "8.8.8.8", plan="enterprise", api_key="wrong-gn-key")
    assert "wrong-gn-key" not in str(info.value)
    gn.fail(503)
    with pytest.raises(ProviderUnavailable):
        await ask(gn, "8.8.8.8")


async def test_health(gn: GreyNoiseEmulator):
    provider = GreyNoise("gn", GreyNoise.Config.model_validate({"type": "greynoise", "base_url": gn.base_url}))
    await provider.open()
    try:
        health = await provider.health()
    finally:
        await provider.aclose()
    assert health.ok and "community" in health.detail


def test_defaults_external_with_the_community_quota_and_enterprise_needs_a_key():
    config = GreyNoise.Config.model_validate({"type": "greynoise"})
    assert config.egress == "external" and config.plan == "community"
    assert config.rate_limits == [RateLimit(requests=50, per_s=86_400), RateLimit(requests=50, per_s=604_800)]
    with pytest.raises(ValidationError, match="enterprise API needs a key"):
        GreyNoise.Config.model_validate({"type": "greynoise", "plan": "enterprise"})
