"""The fleet provider against the FleetDM REST API emulator (tests/emulators/fleet.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from positron.providers.fleet import Fleet
from positron.queries import HOST_INFO, HOST_USER, IP_TO_HOSTNAME, IP_TO_MAC, HostInfo
from pydantic import ValidationError

from positron.config import parse_settings
from positron.errors import (
    BadResponse,
    ConfigError,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from positron.query import Answer, Lookup, Query
from positron.registry import Registry
from tests.emulators.fleet import FleetEmulator, fleet_error

TOKEN = "fleet-test-token-6f1d0c"
SEEN = datetime(2026, 11, 20, 11, 58, tzinfo=UTC)


@pytest.fixture
async def fleet() -> AsyncIterator[FleetEmulator]:
    emulator = FleetEmulator(TOKEN)
    emulator.add_host(
        "laptop-7.corp.example",
        primary_ip="10.20.0.42",
        primary_mac="00:16:3E:12:34:56",
        emails=("JDoe@corp.example", "jane.doe@gmail.com"),
        seen_time=SEEN,
        team=(3, "Paris office"),
    )
    emulator.add_host("laptop-70", primary_ip="10.20.0.4", seen_time=SEEN)  # a substring of the other's IP
    emulator.add_host("ws_042", primary_ip="10.20.0.99", seen_time=SEEN)
    async with emulator:
        yield emulator


def provider(fleet: FleetEmulator, **config: Any) -> Fleet:
    raw = {"type": "fleet", "base_url": fleet.base_url, "api_token": TOKEN, "strip_domains": ["corp.example"]}
    return Fleet("fleet", Fleet.Config.model_validate(raw | config))


async def ask(fleet: FleetEmulator, query: Query[Any], value: str, at: datetime | None = None, **config: Any):
    p = provider(fleet, **config)
    await p.open()
    try:
        return await p.ask(Lookup(query, query.normalize(value), at))
    finally:
        await p.aclose()


async def failure(fleet: FleetEmulator, **config: Any) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        await ask(fleet, IP_TO_HOSTNAME, "10.20.0.42", **config)
    return info.value


# answers


async def test_ip_to_hostname_matches_the_primary_ip_exactly(fleet: FleetEmulator) -> None:
    (answer,) = await ask(fleet, IP_TO_HOSTNAME, "10.20.0.42", at=SEEN - timedelta(hours=1))
    assert answer == Answer("laptop-7.corp.example", 0.8, SEEN, f"{fleet.base_url}/hosts/1")
    (short,) = await ask(fleet, IP_TO_HOSTNAME, "10.20.0.4")  # Fleet's search also returns laptop-7 (substring)
    assert short.value == "laptop-70"
    request = fleet.requests[-1]
    assert (request.path, request.param("query"), request.param("device_mapping")) == (
        "/api/v1/fleet/hosts",
        "10.20.0.4",
        "true",
    )
    assert request.headers["authorization"] == f"Bearer {TOKEN}" and TOKEN not in str(request.query)


async def test_ip_to_mac(fleet: FleetEmulator) -> None:
    (answer,) = await ask(fleet, IP_TO_MAC, "10.20.0.42")
    assert answer.value == "00:16:3e:12:34:56" and answer.observed_at == SEEN
    assert await ask(fleet, IP_TO_MAC, "10.20.0.4") == []  # the host has no MAC: no answer, not an empty one


async def test_host_info_is_the_whole_record_by_short_or_full_name(fleet: FleetEmulator) -> None:
    for name in ("laptop-7", "LAPTOP-7.corp.example."):
        (answer,) = await ask(fleet, HOST_INFO, name)
        assert answer.value == HostInfo(
            hostname="laptop-7.corp.example",
            os="Windows 11 Enterprise 23H2 10.0.22631",
            platform="windows",
            ip="10.20.0.42",
            mac="00:16:3e:12:34:56",
            serial_number="SN000001",
            manufacturer="Dell Inc.",
            model="Latitude 7420",
            owner="jdoe",
            site="Paris office",
            last_seen=SEEN,
            agent_ids=("fleet:1", "osquery:392547dc-0000-4000-8000-000000000001"),
        )
    assert fleet.requests[-1].param("query") == "laptop-7"  # searched by the short name, matched exactly


async def test_host_user_from_the_device_mapping(fleet: FleetEmulator) -> None:
    answers = await ask(fleet, HOST_USER, "laptop-7.corp.example", at=SEEN)
    assert [a.value for a in answers] == ["jdoe", "jane.doe@gmail.com"]  # corp.example addresses → account names
    assert all(a.observed_at == SEEN for a in answers)
    assert [a.value for a in await ask(fleet, HOST_USER, "laptop-7", strip_domains=[])][0] == "jdoe@corp.example"


async def test_unknown_values_are_no_data(fleet: FleetEmulator) -> None:
    assert await ask(fleet, IP_TO_HOSTNAME, "10.99.0.1") == []
    assert await ask(fleet, HOST_INFO, "laptop-8") == []
    assert await ask(fleet, HOST_USER, "laptop-70") == []  # known host, no device mapping


async def test_search_wildcards_in_a_value_never_widen_the_answer(fleet: FleetEmulator) -> None:
    # Fleet's LIKE treats '_' as any character: the search for ws_042 also returns wsx042; the match here is exact.
    fleet.add_host("wsx042", primary_ip="10.20.0.98")
    (answer,) = await ask(fleet, HOST_INFO, "ws_042")
    assert answer.value.hostname == "ws_042"
    assert len(fleet.requests) == 1


async def test_team_filter_and_paging(fleet: FleetEmulator) -> None:
    for i in range(7):
        fleet.add_host(f"kiosk-{i}.corp.example", primary_ip=f"10.30.0.{i + 1}", team=(3, "Paris office"))
    answers = await ask(fleet, HOST_INFO, "kiosk-6", per_page=2)
    assert [a.value.hostname for a in answers] == ["kiosk-6.corp.example"]
    assert [r.param("page") for r in fleet.requests] == ["0"]  # "kiosk-6" matches one host: one short page
    fleet.requests.clear()
    fleet.add_host("late.corp.example", primary_ip="10.30.0.1", team=(3, "Paris office"))
    # "10.30.0.1" matches 10.30.0.1 twice (kiosk-0, late): two full pages are read, then a short one
    answers = await ask(fleet, IP_TO_HOSTNAME, "10.30.0.1", per_page=1, max_pages=5, team_id=3)
    assert sorted(a.value for a in answers) == ["kiosk-0.corp.example", "late.corp.example"]
    assert [r.param("page") for r in fleet.requests] == ["0", "1", "2"]
    assert {r.param("team_id") for r in fleet.requests} == {"3"}


async def test_paging_stops_at_max_pages(fleet: FleetEmulator) -> None:
    for i in range(5):
        fleet.add_host(f"dup-{i}", primary_ip="10.40.0.1")
    answers = await ask(fleet, IP_TO_HOSTNAME, "10.40.0.1", per_page=2, max_pages=2)
    assert len(answers) == 4 and len(fleet.requests) == 2


# failures


async def test_a_wrong_token_is_an_auth_error(fleet: FleetEmulator) -> None:
    error = await failure(fleet, api_token="wrong")
    assert isinstance(error, ProviderAuthError) and "401" in error.message and "wrong" not in error.message


async def test_throttling_is_rate_limited_with_retry_after(fleet: FleetEmulator) -> None:
    fleet.throttle(retry_after="7")
    error = await failure(fleet)
    assert isinstance(error, ProviderRateLimited) and error.retry_after == 7


async def test_server_errors_and_bad_bodies(fleet: FleetEmulator) -> None:
    fleet.fail(502, fleet_error("Bad gateway"))
    assert isinstance(await failure(fleet), ProviderUnavailable)
    fleet.fail(200, b"<html>login</html>")
    assert isinstance(await failure(fleet), BadResponse)
    fleet.fail(200, {"hosts": "nope"})
    assert isinstance(await failure(fleet), BadResponse)


async def test_a_hanging_server_is_a_timeout(fleet: FleetEmulator) -> None:
    fleet.hang(5)
    error = await failure(fleet, timeout_s=0.2)
    assert isinstance(error, ProviderTimeout)


async def test_health(fleet: FleetEmulator) -> None:
    p = provider(fleet)
    await p.open()
    try:
        health = await p.health()
        assert health.ok and "4.60.0" in health.detail
    finally:
        await p.aclose()
    bad = provider(fleet, api_token="nope")
    await bad.open()
    try:
        assert not (await bad.health()).ok
    finally:
        await bad.aclose()


def test_config_errors_name_the_field_and_never_echo_a_secret() -> None:
    raw = {"type": "fleet", "base_url": "https://u:pw-123@fleet.example", "api_token": "t"}
    with pytest.raises(ConfigError) as info:
        parse_settings({"providers": {"fleet": raw}}, Registry.from_entry_points())
    assert info.value.message.startswith("providers.fleet.base_url") and "pw-123" not in str(info.value)
    with pytest.raises(ValidationError):
        Fleet.Config.model_validate(
            {"type": "fleet", "base_url": "https://f.example", "api_token": "t", "ca_file": "/nope"}
        )
