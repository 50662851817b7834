"""The entra_id provider against the Microsoft identity platform + Graph v1.0 emulator (tests/emulators/graph.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from positron.providers.entra_id import EntraId, odata_string
from positron.queries import USER_GROUPS, USER_INFO, USER_MANAGER, Person, UserInfo

from positron.errors import (
    BadResponse,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    UnsupportedInput,
)
from positron.query import Lookup, Query
from tests.emulators.graph import GraphEmulator, parse_filter

TENANT = "contoso.onmicrosoft.com"
SECRET = "entra-test-secret-Q7~x"


@pytest.fixture
async def graph() -> AsyncIterator[GraphEmulator]:
    emulator = GraphEmulator(TENANT, "positron-app", SECRET)
    boss = emulator.add_user("a.smith@corp.example", sam="ASmith", displayName="Alice Smith", jobTitle="CISO")
    jdoe = emulator.add_user(
        "j.doe@corp.example",
        sam="jdoe",
        manager=boss,
        displayName="Jane Doe",
        jobTitle="Analyst",
        department="SOC",
        companyName="Corp",
        officeLocation="Paris 3F",
        businessPhones=["+33 1 23 45 67 89"],
    )
    emulator.add_user("guest_bob@partner.example", displayName="Bob (guest)", accountEnabled=False)
    soc = emulator.add_group("SOC Analysts", members=(jdoe,))
    emulator.add_group("Security", members=(soc,))  # nested: jdoe is in it transitively
    emulator.add_group("All Staff", members=(jdoe, boss))
    async with emulator:
        yield emulator


def provider(graph: GraphEmulator, **config: Any) -> EntraId:
    raw = {
        "type": "entra_id",
        "tenant_id": TENANT,
        "client_id": "positron-app",
        "client_secret": SECRET,
        "authority_url": graph.base_url,
        "graph_url": graph.base_url,
        "strip_domains": ["corp.example"],
    }
    return EntraId("entra", EntraId.Config.model_validate(raw | config))


async def ask(graph: GraphEmulator, query: Query[Any], value: str, **config: Any) -> list[Any]:
    p = provider(graph, **config)
    await p.open()
    try:
        return await p.ask(Lookup(query, query.normalize(value)))
    finally:
        await p.aclose()


async def failure(graph: GraphEmulator, query: Query[Any] = USER_INFO, **config: Any) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        await ask(graph, query, "jdoe", **config)
    return info.value


# answers


@pytest.mark.parametrize("value", ["jdoe", "CORP\\JDoe", "j.doe@corp.example", "J.Doe@Corp.Example"])
async def test_user_info_by_sam_account_name_or_upn(graph: GraphEmulator, value: str) -> None:
    (answer,) = await ask(graph, USER_INFO, value)
    assert answer.value == UserInfo(
        username="jdoe",  # onPremisesSamAccountName: merges with the on-premises directory
        display_name="Jane Doe",
        email="j.doe@corp.example",
        title="Analyst",
        department="SOC",
        company="Corp",
        location="Paris 3F",
        phone="+33 1 23 45 67 89",
        enabled=True,
    )
    assert answer.confidence == 1.0 and answer.source_ref.startswith("https://entra.microsoft.com/")
    request = graph.requests[-1]
    assert set(request.param("$select").split(",")) >= {"onPremisesSamAccountName", "jobTitle"}
    assert "manager" not in request.param("$select")  # only the fields a UserInfo needs


async def test_a_bare_account_is_an_advanced_query(graph: GraphEmulator) -> None:
    await ask(graph, USER_INFO, "jdoe")
    request = graph.requests[-1]
    assert request.param("$filter") == "onPremisesSamAccountName eq 'jdoe'"
    assert request.param("$count") == "true" and request.headers["consistencylevel"] == "eventual"


async def test_a_cloud_only_user_is_named_by_upn(graph: GraphEmulator) -> None:
    (answer,) = await ask(graph, USER_INFO, "guest_bob@partner.example")
    assert (answer.value.username, answer.value.enabled) == ("guest_bob@partner.example", False)
    assert graph.requests[-1].param("$filter") == (
        "userPrincipalName eq 'guest_bob@partner.example' or mail eq 'guest_bob@partner.example'"
    )


async def test_user_manager(graph: GraphEmulator) -> None:
    (answer,) = await ask(graph, USER_MANAGER, "jdoe")
    assert answer.value == Person(
        username="asmith", display_name="Alice Smith", email="a.smith@corp.example", title="CISO"
    )
    assert graph.requests[-1].path.endswith("/manager")
    assert await ask(graph, USER_MANAGER, "asmith") == []  # no manager: 404 is no data


async def test_user_groups_are_transitive_across_pages(graph: GraphEmulator) -> None:
    (answer,) = await ask(graph, USER_GROUPS, "j.doe@corp.example")
    assert answer.value == ["All Staff", "Security", "SOC Analysts"]
    for i in range(5):
        graph.add_group(f"Team {i}", members=(next(iter(graph.users)),))  # a.smith
    graph.requests.clear()
    p = provider(graph)
    await p.open()
    try:
        groups_path = "/transitiveMemberOf/microsoft.graph.group"
        (big,) = await p.ask(Lookup(USER_GROUPS, "asmith"))
        assert big.value == ["All Staff", *[f"Team {i}" for i in range(5)]]
        assert len([r for r in graph.requests if r.path.endswith(groups_path)]) == 1  # $top=999: one page
    finally:
        await p.aclose()


async def test_next_links_are_followed_up_to_max_pages(graph: GraphEmulator) -> None:
    boss = next(iter(graph.users))
    for i in range(5):
        graph.add_group(f"Team {i}", members=(boss,))
    graph.max_page = 2  # six groups in pages of two
    (answer,) = await ask(graph, USER_GROUPS, "asmith")
    assert answer.value == ["All Staff", *[f"Team {i}" for i in range(5)]]
    skiptokens = [r.param("$skiptoken") for r in graph.requests if r.path.endswith("microsoft.graph.group")]
    assert skiptokens == [None, "2", "4"]
    graph.requests.clear()
    (capped,) = await ask(graph, USER_GROUPS, "asmith", max_pages=2)
    assert capped.value == ["All Staff", "Team 0", "Team 1", "Team 2"]
    skiptokens = [r.param("$skiptoken") for r in graph.requests if r.path.endswith("microsoft.graph.group")]
    assert skiptokens == [None, "2"]  # the third page is never asked for


async def test_unknown_users_are_no_data(graph: GraphEmulator) -> None:
    for query in (USER_INFO, USER_MANAGER, USER_GROUPS):
        assert await ask(graph, query, "nobody") == []


# injection


def test_odata_literals_double_quotes_and_refuse_control_characters() -> None:
    crafted = "x' or userPrincipalName eq 'a.smith@corp.example"
    assert parse_filter(f"mail eq {odata_string(crafted)}") == [("mail", crafted)]
    with pytest.raises(UnsupportedInput):
        odata_string("a\nb")


async def test_an_injection_attempt_finds_nobody(graph: GraphEmulator) -> None:
    p = provider(graph)
    await p.open()
    try:
        crafted = Lookup(USER_INFO, "x' or onPremisesSamAccountName eq 'jdoe")  # past normalization
        assert await p.ask(crafted) == []
    finally:
        await p.aclose()


# OAuth2, throttling, failures


async def test_the_token_is_cached_and_refreshed_after_a_401(graph: GraphEmulator) -> None:
    p = provider(graph)
    await p.open()
    try:
        await asyncio.gather(*(p.ask(Lookup(USER_INFO, "jdoe")) for _ in range(4)))
        assert p.token_requests == 1
        graph.revoke()
        assert [a.value.username for a in await p.ask(Lookup(USER_INFO, "jdoe"))] == ["jdoe"]
        assert p.token_requests == 2
    finally:
        await p.aclose()
    token = next(r for r in graph.requests if r.path.endswith("/token"))
    assert token.path == f"/{TENANT}/oauth2/v2.0/token" and SECRET not in str(token.query)
    assert b"scope=" in token.body and b"grant_type=client_credentials" in token.body


async def test_the_token_is_fetched_again_before_it_expires(
    graph: GraphEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [5000.0]
    monkeypatch.setattr("positron.providers.entra_id.time.monotonic", lambda: now[0])
    p = provider(graph)
    await p.open()
    try:
        await p.ask(Lookup(USER_INFO, "jdoe"))
        now[0] += 3599 - 301
        await p.ask(Lookup(USER_INFO, "jdoe"))
        assert p.token_requests == 1
        now[0] += 2
        await p.ask(Lookup(USER_INFO, "jdoe"))
        assert p.token_requests == 2
    finally:
        await p.aclose()


async def test_wrong_credentials_are_an_auth_error_without_the_description(graph: GraphEmulator) -> None:
    error = await failure(graph, client_secret="wrong")
    assert isinstance(error, ProviderAuthError) and "invalid_client" in error.message
    assert "AADSTS" not in error.message and "wrong" not in error.message


async def test_graph_throttling_is_rate_limited_with_retry_after(graph: GraphEmulator) -> None:
    p = provider(graph)
    await p.open()
    try:
        await p.ask(Lookup(USER_INFO, "jdoe"))
        graph.throttle(retry_after="12")
        with pytest.raises(ProviderRateLimited) as info:
            await p.ask(Lookup(USER_INFO, "jdoe"))
        assert info.value.retry_after == 12 and "TooManyRequests" in info.value.message
    finally:
        await p.aclose()


async def test_denied_permissions_bad_bodies_and_timeouts(graph: GraphEmulator) -> None:
    p = provider(graph, timeout_s=0.3)
    await p.open()
    try:
        await p.ask(Lookup(USER_INFO, "jdoe"))
        graph.fail(403, {"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges."}})
        with pytest.raises(ProviderAuthError, match="Authorization_RequestDenied"):
            await p.ask(Lookup(USER_INFO, "jdoe"))
        graph.fail(200, {"value": "nope"})
        with pytest.raises(BadResponse):
            await p.ask(Lookup(USER_INFO, "jdoe"))
        graph.hang(5)
        with pytest.raises(ProviderTimeout):
            await p.ask(Lookup(USER_INFO, "jdoe"))
    finally:
        await p.aclose()


async def test_health(graph: GraphEmulator) -> None:
    p = provider(graph)
    await p.open()
    try:
        assert (await p.health()).ok
    finally:
        await p.aclose()
    bad = provider(graph, tenant_id="other.onmicrosoft.com")
    await bad.open()
    try:
        assert not (await bad.health()).ok
    finally:
        await bad.aclose()
