"""The MISP provider against the MISP REST emulator (tests/emulators/misp.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from positron.providers.misp import Misp
from positron.queries import DOMAIN_REPUTATION, HASH_REPUTATION, IP_REPUTATION, URL_REPUTATION, Verdict

from positron.errors import BadResponse, ProviderAuthError, ProviderRateLimited, ProviderTimeout, ProviderUnavailable
from positron.query import Answer, Lookup
from tests.emulators.misp import MispEmulator

KEY = "misp-test-key-4f1c0b6a9e7d"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SEEN = 1_764_500_000  # 2025-11-30T10:53:20Z
MakeProvider = Callable[..., Any]


@pytest.fixture
async def misp() -> AsyncIterator[MispEmulator]:
    async with MispEmulator(KEY) as emulator:
        emotet = emulator.add_event("Emotet epoch 5 C2", threat_level_id=1, tags=["tlp:green"])
        emulator.add_attribute(emotet, "ip-dst", "203.0.113.9", sightings=[("0", SEEN), ("0", SEEN - 60)])
        emulator.add_attribute(emotet, "domain|ip", "c2.evil.example|198.51.100.7")
        emulator.add_attribute(emotet, "filename|sha256", f"invoice.exe|{SHA256}")
        emulator.add_attribute(emotet, "url", "https://evil.example/gate.php", last_seen="2026-11-29T08:00:00+00:00")
        phishing = emulator.add_event("Phishing kit, unconfirmed", threat_level_id=3)
        emulator.add_attribute(phishing, "domain", "login.bad.example", to_ids=False)
        yield emulator


@pytest.fixture
def make_provider(misp: MispEmulator) -> MakeProvider:
    @asynccontextmanager
    async def make(**config: Any) -> AsyncIterator[Misp]:
        raw = {"type": "misp", "api_key": KEY, "base_url": misp.base_url, **config}
        provider = Misp("misp", Misp.Config.model_validate(raw))
        await provider.open()
        try:
            yield provider
        finally:
            await provider.aclose()

    return make


async def ask(make_provider: MakeProvider, query: Any, raw: str, **config: Any) -> list[Answer[Any]]:
    async with make_provider(**config) as provider:
        return await provider.ask(Lookup(query, query.normalize(raw)))


# the four queries


async def test_ip_reputation_from_an_ids_attribute_with_sightings(make_provider: MakeProvider, misp: MispEmulator):
    (answer,) = await ask(make_provider, IP_REPUTATION, "203.0.113.9")
    rep = answer.value
    assert (rep.verdict, rep.malicious, rep.total, rep.label) == (Verdict.MALICIOUS, 1, 1, "Emotet epoch 5 C2")
    assert rep.link == f"{misp.base_url}/events/view/1" and answer.source_ref == rep.link
    assert answer.confidence == 1.0  # high threat level 0.95 + two sightings
    assert answer.observed_at == datetime.fromtimestamp(SEEN, UTC)
    body = misp.requests[-1]["body"]
    assert body["value"] == "203.0.113.9" and "ip-dst" in body["type"] and body["includeSightings"] is True
    assert misp.requests[-1]["headers"]["Authorization"] == KEY


async def test_composite_attributes_match_either_half(make_provider: MakeProvider):
    (ip,) = await ask(make_provider, IP_REPUTATION, "198.51.100.7")
    (domain,) = await ask(make_provider, DOMAIN_REPUTATION, "C2.Evil.Example")
    (file_hash,) = await ask(make_provider, HASH_REPUTATION, SHA256.upper())
    assert ip.value.verdict == domain.value.verdict == file_hash.value.verdict == Verdict.MALICIOUS
    assert file_hash.confidence == 0.95


async def test_url_reputation_and_last_seen(make_provider: MakeProvider):
    (answer,) = await ask(make_provider, URL_REPUTATION, "hxxps://evil[.]example/gate.php")
    assert answer.value.verdict == Verdict.MALICIOUS
    assert answer.observed_at == datetime(2026, 11, 29, 8, tzinfo=UTC)


async def test_an_attribute_without_to_ids_is_suspicious_with_the_threat_level_confidence(
    make_provider: MakeProvider,
):
    (answer,) = await ask(make_provider, DOMAIN_REPUTATION, "login.bad.example")
    assert (answer.value.verdict, answer.value.suspicious, answer.confidence) == (Verdict.SUSPICIOUS, 1, 0.7)


async def test_unknown_values_are_no_data(make_provider: MakeProvider):
    assert await ask(make_provider, IP_REPUTATION, "192.0.2.200") == []
    assert await ask(make_provider, DOMAIN_REPUTATION, "203.0.113.9.example") == []


# local decisions: false-positive sightings and allowlist tags


async def test_false_positive_sightings_clear_an_attribute(make_provider: MakeProvider, misp: MispEmulator):
    event = misp.add_event("Scanner list")
    misp.add_attribute(event, "ip-src", "192.0.2.10", sightings=[("1", SEEN), ("1", SEEN), ("0", SEEN)])
    other = misp.add_event("Old C2")
    misp.add_attribute(other, "ip-dst", "192.0.2.10")
    (answer,) = await ask(make_provider, IP_REPUTATION, "192.0.2.10")
    rep = answer.value
    assert (rep.verdict, rep.malicious, rep.harmless, rep.total) == (Verdict.HARMLESS, 1, 1, 2)
    assert rep.allowlisted
    assert rep.label == "Scanner list"


async def test_an_allowlist_tag_clears_an_attribute(make_provider: MakeProvider, misp: MispEmulator):
    event = misp.add_event("CDN range", tags=['false-positive:risk="low"'])
    misp.add_attribute(event, "ip-dst", "192.0.2.20")
    (answer,) = await ask(make_provider, IP_REPUTATION, "192.0.2.20")
    assert answer.value.verdict == Verdict.HARMLESS and answer.value.allowlisted
    (kept,) = await ask(make_provider, IP_REPUTATION, "192.0.2.20", allowlist_tags=[])
    assert kept.value.verdict == Verdict.MALICIOUS and not kept.value.allowlisted


# the TLP ceiling


async def test_attributes_above_the_tlp_ceiling_are_never_passed_on(make_provider: MakeProvider, misp: MispEmulator):
    red_event = misp.add_event("Partner-only intel", tags=["tlp:red"])
    misp.add_attribute(red_event, "ip-dst", "192.0.2.30")
    amber = misp.add_event("Community intel")
    misp.add_attribute(amber, "ip-dst", "192.0.2.31", tags=["tlp:amber+strict"])
    misp.add_attribute(amber, "ip-dst", "192.0.2.32", tags=["TLP:RED"])
    assert await ask(make_provider, IP_REPUTATION, "192.0.2.30") == []
    assert await ask(make_provider, IP_REPUTATION, "192.0.2.32") == []
    (shared,) = await ask(make_provider, IP_REPUTATION, "192.0.2.31")
    assert shared.value.verdict == Verdict.MALICIOUS
    assert await ask(make_provider, IP_REPUTATION, "192.0.2.31", tlp_ceiling="TLP:GREEN") == []
    (red_allowed,) = await ask(make_provider, IP_REPUTATION, "192.0.2.30", tlp_ceiling="red")
    assert red_allowed.value.label == "Partner-only intel"
    # untagged attributes count as untagged_tlp
    assert await ask(make_provider, DOMAIN_REPUTATION, "login.bad.example", untagged_tlp="red") == []


# errors


async def test_a_wrong_key_is_an_auth_error_without_the_key(make_provider: MakeProvider):
    with pytest.raises(ProviderAuthError) as info:
        await ask(make_provider, IP_REPUTATION, "203.0.113.9", api_key="wrong-key-123")
    assert "HTTP 403" in info.value.message and "wrong-key-123" not in str(info.value)


@pytest.mark.parametrize(
    ("status", "error"), [(429, ProviderRateLimited), (500, ProviderUnavailable), (502, ProviderUnavailable)]
)
async def test_status_mapping(make_provider: MakeProvider, misp: MispEmulator, status: int, error: type[Exception]):
    misp.fail(status, retry_after=30)
    with pytest.raises(error) as info:
        await ask(make_provider, IP_REPUTATION, "203.0.113.9")
    if status == 429:
        assert info.value.retry_after == 30  # type: ignore[attr-defined]


async def test_an_unexpected_shape_is_a_bad_response(make_provider: MakeProvider, misp: MispEmulator):
    misp.fail(404)
    with pytest.raises(BadResponse):
        await ask(make_provider, IP_REPUTATION, "203.0.113.9")


async def test_a_hang_is_a_timeout(make_provider: MakeProvider, misp: MispEmulator):
    misp.hang(5)
    with pytest.raises(ProviderTimeout):
        await ask(make_provider, IP_REPUTATION, "203.0.113.9", timeout_s=0.2)


async def test_health(make_provider: MakeProvider):
    async with make_provider() as provider:
        good = await provider.health()
    async with make_provider(api_key="nope") as provider:
        bad = await provider.health()
    assert good.ok and "MISP 2.4.190" in good.detail
    assert not bad.ok and "HTTP 403" in bad.detail


# egress and config


def test_misp_is_internal_by_default_and_configurable():
    base = {"type": "misp", "api_key": KEY, "base_url": "https://misp.corp.example"}
    assert Misp.Config.model_validate(base).egress == "internal"
    assert Misp.Config.model_validate({**base, "egress": "external"}).egress == "external"
    assert Misp.supported_queries() == ["DOMAIN_REPUTATION", "HASH_REPUTATION", "IP_REPUTATION", "URL_REPUTATION"]


@pytest.mark.parametrize(
    "bad",
    [
        {"base_url": "ftp://misp.example"},
        {"base_url": "https://user:pw@misp.example"},
        {"tlp_ceiling": "pink"},
        {"max_attributes": 0},
    ],
)
def test_config_rejects(bad: dict[str, Any]):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Misp.Config.model_validate({"type": "misp", "api_key": KEY, "base_url": "https://misp.example", **bad})
