"""The dns provider against a real DNS server (dnslib, in-process, UDP and TCP on 127.0.0.1)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from positron.providers.dns import PAST_CONFIDENCE, PRESENT_CONFIDENCE, Dns, DnsConfig
from positron.queries import HOSTNAME_TO_IP, IP_TO_HOSTNAME
from pydantic import ValidationError

from positron.errors import BadResponse, ProviderTimeout, ProviderUnavailable
from positron.query import Lookup
from tests.support.dns_server import RunningServer, Zone, black_hole, dns_server

ZONE = """
ws-042.corp.example.    60 IN A     10.1.2.3
ws-042.corp.example.    60 IN AAAA  2001:db8::42
ws-042.corp.example.    60 IN AAAA  2001:0db8:0000::0043
v4only.corp.example.    60 IN A     10.1.2.4
flaky.corp.example.     60 IN A     10.1.2.6
alias.corp.example.     60 IN CNAME ws-042.corp.example.
3.2.1.10.in-addr.arpa.  60 IN PTR   WS-042.Corp.Example.
3.2.1.10.in-addr.arpa.  60 IN PTR   ws-042-alt.corp.example.
2.4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 60 IN PTR ws-042.corp.example.
corp.example.           60 IN SOA   ns1.corp.example. hostmaster.corp.example. 1 3600 600 86400 60
.                       60 IN SOA   ns1.corp.example. hostmaster.corp.example. 1 3600 600 86400 60
"""

TRY_S = 0.15  # timeout_s: one try; with attempts=2 and one nameserver the lifetime is 0.3 s


@pytest.fixture
def server() -> Iterator[RunningServer]:
    zone = Zone(
        servfail={"broken.corp.example.", "9.9.9.10.in-addr.arpa."},
        refused={"private.corp.example."},
        silent={"slow.corp.example.", "aaaa-silent.corp.example."},
        garbled={"garbled.corp.example."},
        flaky={"flaky.corp.example."},
    )
    zone.add(ZONE)
    with dns_server(zone) as running:
        yield running


def make(server_port: int, **extra: Any) -> Dns:
    fields = {"type": "dns", "nameservers": ["127.0.0.1"], "port": server_port, "timeout_s": TRY_S}
    return Dns("dns_test", DnsConfig.model_validate(fields | extra))


@pytest.fixture
async def dns(server: RunningServer) -> AsyncIterator[Dns]:
    provider = make(server.port)
    await provider.open()
    try:
        yield provider
    finally:
        await provider.aclose()


async def test_ptr_v4_returns_every_name_lower_case_without_the_dot(dns: Dns, server: RunningServer) -> None:
    answers = await dns.ask(Lookup(IP_TO_HOSTNAME, "10.1.2.3"))
    assert [a.value for a in answers] == ["ws-042.corp.example", "ws-042-alt.corp.example"]
    ref = f"dns://127.0.0.1:{server.port}/3.2.1.10.in-addr.arpa?type=PTR"
    assert {a.source_ref for a in answers} == {ref}


async def test_ptr_v6(dns: Dns) -> None:
    answers = await dns.ask(Lookup(IP_TO_HOSTNAME, "2001:db8::42"))
    assert [a.value for a in answers] == ["ws-042.corp.example"]


async def test_a_and_aaaa_one_answer_per_address(dns: Dns, server: RunningServer) -> None:
    answers = await dns.ask(Lookup(HOSTNAME_TO_IP, "ws-042.corp.example"))
    assert [a.value for a in answers] == ["10.1.2.3", "2001:db8::42", "2001:db8::43"]
    assert answers[0].source_ref == f"dns://127.0.0.1:{server.port}/ws-042.corp.example?type=A"
    assert answers[1].source_ref == f"dns://127.0.0.1:{server.port}/ws-042.corp.example?type=AAAA"
    asked = [(proto, qtype) for proto, qname, qtype in server.zone.seen if qname == "ws-042.corp.example."]
    assert sorted(asked) == [("udp", "A"), ("udp", "AAAA")]


async def test_a_only_name_and_cname_chain(dns: Dns) -> None:
    assert [a.value for a in await dns.ask(Lookup(HOSTNAME_TO_IP, "v4only.corp.example"))] == ["10.1.2.4"]
    chased = await dns.ask(Lookup(HOSTNAME_TO_IP, "alias.corp.example"))
    assert [a.value for a in chased] == ["10.1.2.3", "2001:db8::42", "2001:db8::43"]


async def test_answers_are_observed_now_with_present_confidence(dns: Dns) -> None:
    before = datetime.now(UTC)
    answers = await dns.ask(Lookup(HOSTNAME_TO_IP, "v4only.corp.example"))
    after = datetime.now(UTC)
    assert answers[0].observed_at is not None and before <= answers[0].observed_at <= after
    assert answers[0].confidence == PRESENT_CONFIDENCE


async def test_past_at_lowers_confidence_recent_at_does_not(dns: Dns) -> None:
    now = datetime.now(UTC)
    old = await dns.ask(Lookup(IP_TO_HOSTNAME, "10.1.2.3", now - timedelta(hours=3)))
    recent = await dns.ask(Lookup(IP_TO_HOSTNAME, "10.1.2.3", now - timedelta(minutes=5)))
    assert {a.confidence for a in old} == {PAST_CONFIDENCE}
    assert {a.confidence for a in recent} == {PRESENT_CONFIDENCE}


@pytest.mark.parametrize(
    ("query", "value"),
    [
        (IP_TO_HOSTNAME, "10.9.9.8"),  # NXDOMAIN
        (HOSTNAME_TO_IP, "nothing.corp.example"),  # NXDOMAIN
        (HOSTNAME_TO_IP, "corp.example"),  # the name exists, no A or AAAA (NoAnswer)
    ],
)
async def test_no_data_is_an_empty_list(dns: Dns, query: Any, value: str) -> None:
    assert await dns.ask(Lookup(query, value)) == []


async def test_short_name_tries_each_search_domain_in_order(server: RunningServer) -> None:
    provider = make(server.port, search_domains=["lab.example", "Corp.Example"])
    await provider.open()
    try:
        answers = await provider.ask(Lookup(HOSTNAME_TO_IP, "ws-042"))
        missing = await provider.ask(Lookup(HOSTNAME_TO_IP, "ws-999"))
    finally:
        await provider.aclose()
    assert [a.value for a in answers] == ["10.1.2.3", "2001:db8::42", "2001:db8::43"]
    assert answers[0].source_ref is not None and "/ws-042.corp.example?" in answers[0].source_ref
    assert missing == []
    names = {qname for _, qname, _ in server.zone.seen}
    assert {"ws-042.lab.example.", "ws-042.corp.example.", "ws-999.lab.example."} <= names
    assert "ws-042." not in names  # a short name is never asked at the root


async def test_tcp(server: RunningServer) -> None:
    provider = make(server.port, tcp=True)
    await provider.open()
    try:
        answers = await provider.ask(Lookup(IP_TO_HOSTNAME, "10.1.2.3"))
    finally:
        await provider.aclose()
    assert answers[0].value == "ws-042.corp.example"
    assert ("tcp", "3.2.1.10.in-addr.arpa.", "PTR") in server.zone.seen


async def test_servfail_is_unavailable(dns: Dns, server: RunningServer) -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        await dns.ask(Lookup(IP_TO_HOSTNAME, "10.9.9.9"))
    assert caught.value.message.endswith(f"127.0.0.1:{server.port} SERVFAIL")
    assert "9.9.9.10.in-addr.arpa PTR" in caught.value.message


async def test_servfail_on_hostname_and_refused_are_unavailable(dns: Dns) -> None:
    with pytest.raises(ProviderUnavailable, match="SERVFAIL"):
        await dns.ask(Lookup(HOSTNAME_TO_IP, "broken.corp.example"))
    with pytest.raises(ProviderUnavailable, match="REFUSED"):
        await dns.ask(Lookup(HOSTNAME_TO_IP, "private.corp.example"))


async def test_malformed_reply_is_a_bad_response(server: RunningServer) -> None:
    provider = make(server.port, tcp=True)  # over UDP a stub skips unparsable datagrams and waits (a timeout)
    await provider.open()
    try:
        with pytest.raises(BadResponse, match=r"garbled\.corp\.example A: 127\.0\.0\.1:\d+ FormError$"):
            await provider.ask(Lookup(HOSTNAME_TO_IP, "garbled.corp.example"))
    finally:
        await provider.aclose()


async def test_silent_name_times_out_within_the_lifetime(dns: Dns) -> None:
    lifetime = dns.config.lifetime
    assert lifetime == pytest.approx(2 * TRY_S)  # attempts (2) × timeout_s × one nameserver
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match=r"slow\.corp\.example A+ within 0\.3 s"):
        await dns.ask(Lookup(HOSTNAME_TO_IP, "slow.corp.example"))
    elapsed = time.monotonic() - started
    assert lifetime * 0.9 <= elapsed < lifetime + 0.1


async def test_a_lost_datagram_is_retried(dns: Dns, server: RunningServer) -> None:
    answers = await dns.ask(Lookup(HOSTNAME_TO_IP, "flaky.corp.example"))
    assert [a.value for a in answers] == ["10.1.2.6"]
    asked = [qtype for _, qname, qtype in server.zone.seen if qname == "flaky.corp.example."]
    assert sorted(asked) == ["A", "A", "AAAA", "AAAA"]  # each first try was dropped


async def test_next_nameserver_answers_when_the_first_is_closed(server: RunningServer) -> None:
    # nothing listens on 127.0.0.2 (the server binds 127.0.0.1): that try fails or times out, then the
    # second nameserver answers within the lifetime
    provider = make(server.port, nameservers=["127.0.0.2", "127.0.0.1"])
    await provider.open()
    try:
        answers = await provider.ask(Lookup(IP_TO_HOSTNAME, "10.1.2.3"))
    finally:
        await provider.aclose()
    assert provider.config.lifetime == pytest.approx(4 * TRY_S)  # 2 attempts × 2 nameservers
    assert answers[0].source_ref == f"dns://127.0.0.1:{server.port}/3.2.1.10.in-addr.arpa?type=PTR"


async def test_a_failure_in_either_family_fails_the_lookup(server: RunningServer) -> None:
    server.zone.add("aaaa-silent.corp.example. 60 IN A 10.1.2.5")
    provider = make(server.port)
    await provider.open()
    try:
        with pytest.raises(ProviderTimeout):
            await provider.ask(Lookup(HOSTNAME_TO_IP, "aaaa-silent.corp.example"))
    finally:
        await provider.aclose()


async def test_dead_nameserver_times_out_and_fails_health() -> None:
    with black_hole() as port:
        provider = make(port)
        await provider.open()
        try:
            with pytest.raises(ProviderTimeout):
                await provider.ask(Lookup(IP_TO_HOSTNAME, "10.1.2.3"))
            health = await provider.health()
        finally:
            await provider.aclose()
    assert not health.ok
    assert health.detail == "no DNS answer for . SOA within 0.3 s"


async def test_health_ok(dns: Dns, server: RunningServer) -> None:
    health = await dns.health()
    assert health.ok, health.detail
    assert health.detail.startswith("127.0.0.1 answered . SOA in ")
    assert ("udp", ".", "SOA") in server.zone.seen


async def test_health_not_ok_when_refused(server: RunningServer) -> None:
    provider = make(server.port, health_name="private.corp.example")
    await provider.open()
    try:
        health = await provider.health()
    finally:
        await provider.aclose()
    assert not health.ok
    assert "REFUSED" in health.detail


async def test_health_ok_when_the_name_does_not_exist(server: RunningServer) -> None:
    provider = make(server.port, health_name="absent.example")
    await provider.open()
    try:
        assert (await provider.health()).ok  # NXDOMAIN is an answer: the server works
    finally:
        await provider.aclose()


def test_config_validates_nameservers_and_names() -> None:
    config = DnsConfig.model_validate(
        {"type": "dns", "nameservers": [" 2001:0db8::0053 "], "search_domains": ["Corp.Example."]}
    )
    assert config.nameservers == ["2001:db8::53"]
    assert config.search_domains == ["corp.example"]
    assert (config.timeout_s, config.attempts, config.lifetime) == (2.0, 2, 4.0)
    bad: dict[str, Any]
    for bad in (
        {"nameservers": []},
        {"nameservers": ["ns1.corp.example"]},
        {"search_domains": ["corp example"]},
        {"health_name": "a..b"},
        {"attempts": 0},
    ):
        with pytest.raises(ValidationError):
            DnsConfig.model_validate({"type": "dns", "nameservers": ["10.0.0.53"]} | bad)


async def test_ask_before_open_is_unavailable(server: RunningServer) -> None:
    with pytest.raises(ProviderUnavailable, match="not open"):
        await make(server.port).ask(Lookup(IP_TO_HOSTNAME, "10.1.2.3"))
