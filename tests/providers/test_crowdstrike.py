"""The crowdstrike provider against the Falcon API emulator (tests/emulators/crowdstrike.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from positron.providers.crowdstrike import CLOUDS, CrowdStrike, fql_string
from positron.queries import HOST_INFO, HOST_USER, HOSTNAME_TO_IP, IP_TO_HOSTNAME, IP_TO_MAC, IP_TO_USER, HostInfo

from positron.errors import (
    BadResponse,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    UnsupportedInput,
)
from positron.query import Lookup, Query
from tests.emulators.crowdstrike import FalconEmulator, parse_fql

SECRET = "falcon-test-secret-91ab"
SEEN = datetime(2026, 11, 20, 11, 59, tzinfo=UTC)
LOGON = datetime(2026, 11, 20, 8, 2, tzinfo=UTC)


@pytest.fixture
async def falcon() -> AsyncIterator[FalconEmulator]:
    emulator = FalconEmulator("positron", SECRET)
    emulator.add_device(
        "LAPTOP-7",
        device_id="4f1c0d2e9a8b47c6b5a4d3c2b1a09f8e",
        local_ip="10.20.0.42",
        mac_address="00-16-3e-12-34-56",
        last_login_user="CORP\\JDoe",
        last_login_timestamp="2026-11-20T08:02:00Z",
    )
    emulator.add_device("LAPTOP-70", local_ip="10.20.0.4", last_login_user="asmith@corp.example")
    emulator.add_device("KIOSK-1", local_ip="192.168.1.20", external_ip="10.20.0.42", last_seen="2026-11-19T10:00:00Z")
    async with emulator:
        yield emulator


def provider(falcon: FalconEmulator, **config: Any) -> CrowdStrike:
    raw = {
        "type": "crowdstrike",
        "client_id": "positron",
        "client_secret": SECRET,
        "base_url": falcon.base_url,
        "strip_domains": ["corp.example"],
    }
    return CrowdStrike("falcon", CrowdStrike.Config.model_validate(raw | config))


async def ask(falcon: FalconEmulator, query: Query[Any], value: str, **config: Any) -> list[Any]:
    p = provider(falcon, **config)
    await p.open()
    try:
        return await p.ask(Lookup(query, query.normalize(value)))
    finally:
        await p.aclose()


async def failure(falcon: FalconEmulator, **config: Any) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        await ask(falcon, IP_TO_HOSTNAME, "10.20.0.42", **config)
    return info.value


# answers


async def test_ip_to_hostname_local_first_then_behind_the_external_address(falcon: FalconEmulator) -> None:
    answers = await ask(falcon, IP_TO_HOSTNAME, "10.20.0.42")
    assert [(a.value, a.confidence) for a in answers] == [("laptop-7", 0.9), ("kiosk-1", 0.5)]
    assert answers[0].observed_at == SEEN
    assert (
        answers[0].source_ref == "https://falcon.crowdstrike.com/host-management/hosts/4f1c0d2e9a8b47c6b5a4d3c2b1a09f8e"
    )
    query = next(r for r in falcon.requests if r.path == "/devices/queries/devices/v1")
    assert query.param("filter") == "local_ip:'10.20.0.42',external_ip:'10.20.0.42'"


async def test_hostname_to_ip_and_ip_to_mac(falcon: FalconEmulator) -> None:
    (ip,) = await ask(falcon, HOSTNAME_TO_IP, "laptop-7.corp.example")
    assert ip.value == "10.20.0.42"
    (mac,) = await ask(falcon, IP_TO_MAC, "10.20.0.42")
    assert mac.value == "00:16:3e:12:34:56"
    assert await ask(falcon, IP_TO_MAC, "10.20.0.4") == []  # no MAC known: no answer


async def test_host_info_record(falcon: FalconEmulator) -> None:
    (answer,) = await ask(falcon, HOST_INFO, "laptop-7")
    assert answer.value == HostInfo(
        hostname="laptop-7.corp.example",
        os="Windows 11",
        platform="windows",
        ip="10.20.0.42",
        mac="00:16:3e:12:34:56",
        serial_number="PF000000",
        manufacturer="LENOVO",
        model="ThinkPad T14 Gen 4",
        owner="jdoe",
        site="Paris",
        last_seen=SEEN,
        agent_ids=("crowdstrike:4f1c0d2e9a8b47c6b5a4d3c2b1a09f8e",),
    )


async def test_host_user_and_ip_to_user_are_the_last_logged_on_user(falcon: FalconEmulator) -> None:
    (user,) = await ask(falcon, HOST_USER, "LAPTOP-7.corp.example")
    assert (user.value, user.observed_at) == ("jdoe", LOGON)  # CORP\JDoe → jdoe, at its logon time
    (by_ip,) = await ask(falcon, IP_TO_USER, "10.20.0.4")
    assert by_ip.value == "asmith"  # a UPN in strip_domains → the account name
    assert await ask(falcon, IP_TO_USER, "10.99.0.1") == []


async def test_unknown_values_are_no_data_with_one_query_call(falcon: FalconEmulator) -> None:
    assert await ask(falcon, HOST_INFO, "laptop-8") == []
    assert [r.path for r in falcon.requests] == ["/oauth2/token", "/devices/queries/devices/v1"]


# FQL safety


def test_fql_strings_escape_quotes_and_backslashes_and_refuse_wildcards() -> None:
    assert fql_string("ws-042") == "'ws-042'"
    crafted = "x',hostname:'y"  # an attempt to close the string and add a term
    assert parse_fql("hostname:" + fql_string(crafted)) == [[("hostname", crafted)]]
    backslashes = "a\\\\'b\\"
    assert parse_fql("hostname:" + fql_string(backslashes)) == [[("hostname", backslashes)]]
    with pytest.raises(UnsupportedInput):
        fql_string("ws-*")


async def test_an_injection_attempt_matches_nothing_it_should_not(falcon: FalconEmulator) -> None:
    p = provider(falcon)
    await p.open()
    try:
        crafted = Lookup(HOST_INFO, "x',hostname:'laptop-7")  # past normalization, as a buggy caller might
        assert await p.ask(crafted) == []
        with pytest.raises(UnsupportedInput):
            await p.ask(Lookup(HOST_INFO, "laptop*"))
    finally:
        await p.aclose()


# OAuth2


async def test_the_token_is_cached_refreshed_before_expiry_and_after_a_401(falcon: FalconEmulator) -> None:
    p = provider(falcon)
    await p.open()
    try:
        await asyncio.gather(*(p.ask(Lookup(IP_TO_MAC, "10.20.0.42")) for _ in range(5)))
        assert p.tokens.requests == 1  # five concurrent lookups, one token
        falcon.revoke()
        assert [a.value for a in await p.ask(Lookup(IP_TO_MAC, "10.20.0.42"))] == ["00:16:3e:12:34:56"]
        assert p.tokens.requests == 2  # the 401 fetched a new token and the call was repeated
    finally:
        await p.aclose()


async def test_the_token_is_fetched_again_refresh_margin_before_it_expires(
    falcon: FalconEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr("positron.providers._oauth.time.monotonic", lambda: now[0])
    p = provider(falcon, refresh_margin_s=60)
    await p.open()
    try:
        await p.ask(Lookup(IP_TO_MAC, "10.20.0.42"))
        now[0] += 1799 - 61  # expires_in 1799: still outside the margin
        await p.ask(Lookup(IP_TO_MAC, "10.20.0.42"))
        assert p.tokens.requests == 1
        now[0] += 2  # inside the margin: a new token before the old one lapses
        await p.ask(Lookup(IP_TO_MAC, "10.20.0.42"))
        assert p.tokens.requests == 2
    finally:
        await p.aclose()


async def test_wrong_client_credentials_are_an_auth_error(falcon: FalconEmulator) -> None:
    error = await failure(falcon, client_secret="nope")
    assert isinstance(error, ProviderAuthError) and "nope" not in error.message and SECRET not in error.message
    token_request = falcon.requests[-1]
    assert token_request.path == "/oauth2/token" and SECRET not in str(token_request.query)


def test_regional_base_urls() -> None:
    for cloud, url in CLOUDS.items():
        raw = {"type": "crowdstrike", "client_id": "c", "client_secret": "s", "cloud": cloud}
        assert CrowdStrike.Config.model_validate(raw).api_url == url
    assert CLOUDS["eu-1"] == "https://api.eu-1.crowdstrike.com"


# paging, throttling, failures


async def test_paging_follows_meta_pagination(falcon: FalconEmulator) -> None:
    for i in range(5):
        falcon.add_device(f"VDI-{i}", local_ip="10.50.0.1")
    answers = await ask(falcon, IP_TO_HOSTNAME, "10.50.0.1", page_size=2, max_pages=5)
    assert sorted(a.value for a in answers) == [f"vdi-{i}" for i in range(5)]
    offsets = [r.param("offset") for r in falcon.requests if r.path.startswith("/devices/queries")]
    assert offsets == ["0", "2", "4"]
    falcon.requests.clear()
    assert len(await ask(falcon, IP_TO_HOSTNAME, "10.50.0.1", page_size=2, max_pages=2)) == 4


async def test_rate_limit_headers_become_rate_limited(falcon: FalconEmulator) -> None:
    falcon.rate_limit = 0
    error = await failure(falcon)
    assert isinstance(error, ProviderRateLimited)
    assert error.retry_after is not None and 0 <= error.retry_after <= 4  # X-RateLimit-RetryAfter is an epoch


async def test_server_errors_bad_bodies_and_timeouts(falcon: FalconEmulator) -> None:
    falcon.fail(503, {"errors": [{"code": 503, "message": "unavailable"}]})
    assert isinstance(await failure(falcon), ProviderUnavailable)
    p = provider(falcon, timeout_s=0.3)
    await p.open()
    try:
        await p.ask(Lookup(IP_TO_MAC, "10.20.0.42"))  # token cached
        falcon.fail(200, {"meta": {}, "resources": "x"})
        with pytest.raises(BadResponse):
            await p.ask(Lookup(IP_TO_MAC, "10.20.0.42"))
        falcon.hang(5)
        with pytest.raises(ProviderTimeout):
            await p.ask(Lookup(IP_TO_MAC, "10.20.0.42"))
    finally:
        await p.aclose()


async def test_health(falcon: FalconEmulator) -> None:
    p = provider(falcon)
    await p.open()
    try:
        assert (await p.health()).ok
    finally:
        await p.aclose()
    bad = provider(falcon, client_secret="wrong")
    await bad.open()
    try:
        health = await bad.health()
        assert not health.ok and "refused" in health.detail
    finally:
        await bad.aclose()
