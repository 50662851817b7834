"""The elasticsearch provider against the Elasticsearch 8 / OpenSearch 2 search emulator
(tests/emulators/elasticsearch.py)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from positron.providers.elasticsearch import Elasticsearch
from positron.queries import HOST_USER, HOSTNAME_TO_IP, IP_TO_HOSTNAME, IP_TO_MAC, IP_TO_USER

from positron.config import parse_settings
from positron.errors import (
    BadResponse,
    ConfigError,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    UnsupportedInput,
)
from positron.query import Lookup, Query
from positron.registry import Registry
from tests.emulators.elasticsearch import ElasticsearchEmulator, es_error

API_KEY = base64.b64encode(b"VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw").decode()
AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DHCP = {"index": "logs-dhcp-*", "match": ["client.ip"], "field": "host.name", "window_before_s": 8 * 3600}
SEARCHES: dict[str, Any] = {
    "IP_TO_HOSTNAME": DHCP,
    "IP_TO_MAC": {**DHCP, "field": "client.mac"},
    "HOSTNAME_TO_IP": {"index": "logs-dhcp-*", "match": ["host.name"], "field": "client.ip"},
    "IP_TO_USER": {
        "index": "logs-windows*,logs-vpn",
        "match": ["source.ip", "client.ip"],
        "field": "user.name",
        "filters": [{"terms": {"event.code": ["4624", "vpn-connect"]}}],
    },
    "HOST_USER": {
        "index": "logs-windows*",
        "match": ["host.name"],
        "field": "user.name",
        "filters": [{"term": {"event.code": "4624"}}],
    },
}


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def seed(es: ElasticsearchEmulator) -> None:
    dhcp = "logs-dhcp-2026.11.20"
    es.add(
        dhcp,
        **{
            "@timestamp": iso(AT - timedelta(hours=2)),
            "client": {"ip": "10.20.0.42", "mac": "AA-BB-CC-00-00-07"},
            "host": {"name": "LAPTOP-7.corp.example"},
        },
    )
    es.add(dhcp, **{"@timestamp": iso(AT - timedelta(hours=5)), "client.ip": "10.20.0.42", "host.name": "ws-017"})
    es.add(dhcp, **{"@timestamp": iso(AT - timedelta(days=2)), "client.ip": "10.20.0.42", "host.name": "too-old"})
    es.add(dhcp, **{"@timestamp": iso(AT - timedelta(hours=1)), "client.ip": "10.20.0.4", "host.name": "other"})
    win = "logs-windows.security-default"
    es.add(
        win,
        **{
            "@timestamp": iso(AT - timedelta(hours=1)),
            "event": {"code": "4624"},
            "source": {"ip": "10.20.0.42"},
            "host": {"name": "laptop-7"},
            "user": {"name": "CORP\\JDoe"},
        },
    )
    es.add(
        win,
        **{
            "@timestamp": iso(AT - timedelta(hours=1)),
            "event": {"code": "4634"},
            "source": {"ip": "10.20.0.42"},
            "host": {"name": "laptop-7"},
            "user": {"name": "logoff-only"},
        },
    )
    es.add(
        "logs-vpn",
        **{
            "@timestamp": iso(AT - timedelta(hours=3)),
            "event.code": "vpn-connect",
            "client.ip": "10.20.0.42",
            "user.name": "asmith@corp.example",
        },
    )


@pytest.fixture
async def es() -> AsyncIterator[ElasticsearchEmulator]:
    emulator = ElasticsearchEmulator(api_key=API_KEY, user=("positron", "es-pass-1"))
    seed(emulator)
    async with emulator:
        yield emulator


def provider(es: ElasticsearchEmulator, **config: Any) -> Elasticsearch:
    raw = {"type": "elasticsearch", "url": es.base_url, "api_key": API_KEY, "searches": SEARCHES}
    return Elasticsearch("es", Elasticsearch.Config.model_validate({**raw, **config}))


async def ask(es: ElasticsearchEmulator, query: Query[Any], value: str, at: datetime | None = AT, **config: Any):
    p = provider(es, **config)
    await p.open()
    try:
        return await p.ask(Lookup(query, query.normalize(value), at))
    finally:
        await p.aclose()


async def failure(es: ElasticsearchEmulator, **config: Any) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        await ask(es, IP_TO_HOSTNAME, "10.20.0.42", **config)
    return info.value


# answers


async def test_ip_to_hostname_within_the_window_newest_first(es: ElasticsearchEmulator) -> None:
    answers = await ask(es, IP_TO_HOSTNAME, "10.20.0.42")
    assert [a.value for a in answers] == ["laptop-7.corp.example", "ws-017"]  # too-old is outside the 8 h window
    assert answers[0].observed_at == AT - timedelta(hours=2) and answers[0].confidence == 0.85
    assert answers[0].source_ref is not None and answers[0].source_ref.startswith("logs-dhcp-2026.11.20/_doc/")
    body = es.bodies[-1]
    assert body["query"]["bool"]["should"] == [{"term": {"client.ip": "10.20.0.42"}}]
    window = body["query"]["bool"]["filter"][0]["range"]["@timestamp"]
    assert (window["gte"], window["lte"]) == (
        (AT - timedelta(hours=8)).isoformat(),
        (AT + timedelta(minutes=15)).isoformat(),
    )
    assert body["sort"] == [{"@timestamp": {"order": "desc"}}] and body["_source"] == ["host.name", "@timestamp"]


async def test_ip_to_mac_and_hostname_to_ip(es: ElasticsearchEmulator) -> None:
    (mac,) = await ask(es, IP_TO_MAC, "10.20.0.42")
    assert mac.value == "aa:bb:cc:00:00:07"
    (ip,) = await ask(es, HOSTNAME_TO_IP, "ws-017")
    assert ip.value == "10.20.0.42"


async def test_ip_to_user_and_host_user_from_logon_events(es: ElasticsearchEmulator) -> None:
    users = await ask(es, IP_TO_USER, "10.20.0.42")
    assert [a.value for a in users] == ["jdoe", "asmith@corp.example"]  # 4624 and VPN; the 4634 logoff is filtered
    (host,) = await ask(es, HOST_USER, "laptop-7")
    assert host.value == "jdoe" and host.observed_at == AT - timedelta(hours=1)


async def test_without_at_the_default_window_ends_now(es: ElasticsearchEmulator) -> None:
    es.add(
        "logs-dhcp-today",
        **{"@timestamp": iso(datetime.now(UTC) - timedelta(minutes=3)), "client.ip": "10.9.9.9", "host.name": "ws-now"},
    )
    (answer,) = await ask(es, IP_TO_HOSTNAME, "10.9.9.9", at=None)
    assert answer.value == "ws-now"
    assert await ask(es, IP_TO_HOSTNAME, "10.20.0.42", at=None) == []  # the AT events are older than a day


async def test_no_hits_and_unconfigured_queries(es: ElasticsearchEmulator) -> None:
    assert await ask(es, IP_TO_HOSTNAME, "10.99.0.1") == []
    p = provider(es, searches={"ip_to_hostname": DHCP})
    assert p.serves() == ["IP_TO_HOSTNAME"]
    with pytest.raises(UnsupportedInput):
        await p.ask(Lookup(HOST_USER, "laptop-7"))


# injection: the value is a term, never query syntax


async def test_a_crafted_value_is_one_term_and_matches_nothing(es: ElasticsearchEmulator) -> None:
    es.add("logs-dhcp-x", **{"@timestamp": iso(AT), "client.ip": "*", "host.name": "wildcard-victim"})
    crafted = 'x" OR host.name:* OR "'
    p = provider(es)
    await p.open()
    try:
        assert await p.ask(Lookup(IP_TO_HOSTNAME, crafted, AT)) == []
        assert await p.ask(Lookup(IP_TO_HOSTNAME, "*", AT)) != []  # only the literal '*' value matches '*'
    finally:
        await p.aclose()
    assert es.bodies[-2]["query"]["bool"]["should"] == [{"term": {"client.ip": crafted}}]
    assert "query_string" not in str(es.bodies)


# paging


async def test_search_after_reads_further_pages_up_to_max_hits(es: ElasticsearchEmulator) -> None:
    for i in range(7):
        es.add(
            "logs-dhcp-vdi",
            **{
                "@timestamp": iso(AT - timedelta(minutes=i + 1)),
                "client.ip": "10.50.0.1",
                "host.name": f"vdi-{i}",
                "event.id": f"e{i}",
            },
        )
    searches = {"IP_TO_HOSTNAME": {**DHCP, "page_size": 3, "tiebreaker": "event.id"}}
    answers = await ask(es, IP_TO_HOSTNAME, "10.50.0.1", searches=searches)
    assert [a.value for a in answers] == [f"vdi-{i}" for i in range(7)]
    pages = es.bodies[-3:]
    assert "search_after" not in pages[0] and pages[1]["search_after"][1] == "e2" and pages[2]["size"] == 3
    es.bodies.clear()
    capped = {"IP_TO_HOSTNAME": {**DHCP, "page_size": 3, "max_hits": 4}}
    assert len(await ask(es, IP_TO_HOSTNAME, "10.50.0.1", searches=capped)) == 4
    assert [b["size"] for b in es.bodies] == [3, 1]


# products, auth, failures


async def test_basic_auth_and_opensearch_without_the_product_header() -> None:
    async with ElasticsearchEmulator(flavor="opensearch", user=("positron", "os-pass")) as os_:
        seed(os_)
        raw = {"api_key": None, "username": "positron", "password": "os-pass", "product": "opensearch"}
        (first, _) = await ask(os_, IP_TO_HOSTNAME, "10.20.0.42", **raw)
        assert first.value == "laptop-7.corp.example"
        p = provider(os_, **raw)
        await p.open()
        try:
            health = await p.health()
            assert health.ok and "opensearch 2.11.1" in health.detail
        finally:
            await p.aclose()
        error = await failure(os_, api_key=None, username="positron", password="os-pass")  # configured as Elastic
        assert isinstance(error, BadResponse) and "X-Elastic-Product" in error.message


async def test_wrong_credentials_are_an_auth_error(es: ElasticsearchEmulator) -> None:
    error = await failure(es, api_key="bm9wZTpub3Bl")
    assert isinstance(error, ProviderAuthError) and "security_exception" in error.message


async def test_rejections_missing_indices_and_timeouts(es: ElasticsearchEmulator) -> None:
    es.reject()
    assert isinstance(await failure(es), ProviderRateLimited)
    es.fail(503, es_error(503, "search_phase_execution_exception", "all shards failed"))
    assert isinstance(await failure(es), ProviderError)
    searches = {"IP_TO_HOSTNAME": {**DHCP, "index": "no-such-index"}}
    error = await failure(es, searches=searches)
    assert isinstance(error, BadResponse) and "index_not_found_exception" in error.message
    assert "no-such-index" not in error.message.split("HTTP 404")[-1]  # the reason is not copied
    es.hang(5)
    assert isinstance(await failure(es, timeout_s=0.2), ProviderTimeout)


async def test_health_checks_the_product(es: ElasticsearchEmulator) -> None:
    p = provider(es)
    await p.open()
    try:
        health = await p.health()
        assert health.ok and "8.13.4" in health.detail
    finally:
        await p.aclose()
    wrong = provider(es, product="opensearch")
    await wrong.open()
    try:
        assert not (await wrong.health()).ok
    finally:
        await wrong.aclose()


def test_config_errors() -> None:
    registry = Registry.from_entry_points()
    bad = [
        ({"searches": {"USER_INFO": DHCP}}, "providers.es"),
        ({"username": "u"}, "providers.es"),
        ({"url": "https://u:es-secret-9@es.example"}, "providers.es.url"),
        ({"searches": {"IP_TO_HOSTNAME": {**DHCP, "index": "_all/../x"}}}, "providers.es.searches"),
    ]
    for extra, key in bad:
        raw = {"type": "elasticsearch", "url": "https://es.example:9200", "api_key": API_KEY, **extra}
        with pytest.raises(ConfigError) as info:
            parse_settings({"providers": {"es": raw}}, registry)
        assert info.value.message.startswith(key) and "es-secret-9" not in info.value.message
