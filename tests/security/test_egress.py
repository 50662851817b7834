"""Server-side egress control: internal values never reach external services; TLP above an instance's max_tlp
skips it; the response says which instances were skipped and why. Against the VirusTotal emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from positron.inputs import InputKind
from positron.query import Lookup
from positron.security.egress import SPECIAL_USE_SUFFIXES, classify, internal_reason, parse_tlp, skip_reason
from tests.emulators.abuseipdb import AbuseIpdbEmulator
from tests.emulators.greynoise import GreyNoiseEmulator
from tests.emulators.misp import MispEmulator
from tests.emulators.virustotal import VirusTotalEmulator
from tests.security.support import auth, broker, client, serving

VT_KEY = "vt-egress-test-key-0123456789"
EGRESS = "egress: internal value not sent to an external service"


@pytest.fixture
async def vt() -> AsyncIterator[VirusTotalEmulator]:
    async with VirusTotalEmulator(VT_KEY) as emulator:
        yield emulator


def vt_instance(emulator: VirusTotalEmulator, **extra: Any) -> dict[str, Any]:
    return {"type": "virustotal", "api_key": VT_KEY, "base_url": emulator.base_url, "rate_limits": [], **extra}


def status(body: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in body["providers"] if p["name"] == name)
    return found


def ip_paths(emulator: VirusTotalEmulator) -> list[str]:
    return [r.path for r in emulator.requests if r.path.startswith("/api/v3/ip_addresses/")]


async def test_ip_reputation_of_a_private_address_never_reaches_virustotal(vt: VirusTotalEmulator) -> None:
    async with client({"virustotal": vt_instance(vt)}) as c:
        private = await c.post("/v1/queries/IP_REPUTATION", json={"value": "10.1.2.3"}, headers=auth("root"))
        public = await c.post("/v1/queries/IP_REPUTATION", json={"value": "8.8.8.8"}, headers=auth("root"))
    assert status(private.json(), "virustotal") | {"elapsed_ms": 0} == {
        "name": "virustotal",
        "type": "virustotal",
        "status": "skipped",
        "elapsed_ms": 0,
        "cached": False,
        "age_s": None,
        "error": EGRESS,
        "error_code": "skipped",
        "retry_after": None,
    }
    assert status(public.json(), "virustotal")["status"] in ("ok", "no_data")
    assert ip_paths(vt) == ["/api/v3/ip_addresses/8.8.8.8"]
    assert not any("10.1.2.3" in r.raw_path for r in vt.requests)


@pytest.mark.parametrize("tlp", ["red", "TLP:RED", 3])
async def test_a_request_tlp_above_the_instance_max_tlp_skips_it(vt: VirusTotalEmulator, tlp: Any) -> None:
    async with client({"virustotal": vt_instance(vt)}) as c:
        r = await c.post("/v1/queries/IP_REPUTATION", json={"value": "8.8.8.8", "tlp": tlp}, headers=auth("root"))
    assert r.status_code == 200
    assert status(r.json(), "virustotal")["error"] == (
        "tlp: the request is TLP:RED, this instance accepts up to TLP:AMBER"
    )
    assert ip_paths(vt) == []


async def test_max_tlp_and_the_default_tlp_decide_for_requests_that_give_none(vt: VirusTotalEmulator) -> None:
    async with client({"virustotal": vt_instance(vt, max_tlp="green")}) as c:
        untagged = await c.post("/v1/queries/IP_REPUTATION", json={"value": "8.8.8.8"}, headers=auth("root"))
        clear = await c.post(
            "/v1/queries/IP_REPUTATION", json={"value": "8.8.4.4", "tlp": "white"}, headers=auth("root")
        )
        bad = await c.post("/v1/queries/IP_REPUTATION", json={"value": "8.8.8.8", "tlp": "pink"}, headers=auth("root"))
    assert status(untagged.json(), "virustotal")["error"].startswith("tlp: the request is TLP:AMBER")
    assert status(clear.json(), "virustotal")["status"] in ("ok", "no_data")
    assert ip_paths(vt) == ["/api/v3/ip_addresses/8.8.4.4"]
    assert bad.status_code == 422 and "tlp" in bad.json()["error"]["message"]


async def test_internal_domains_are_kept_in_even_when_the_provider_would_send_them(vt: VirusTotalEmulator) -> None:
    security = {"internal_domains": ["corp.example"], "audit": {"destination": None}}
    async with client({"virustotal": vt_instance(vt)}, security=security) as c:
        inside = await c.post(
            "/v1/queries/DOMAIN_REPUTATION", json={"value": "Files.CORP.example."}, headers=auth("root")
        )
        outside = await c.post("/v1/queries/DOMAIN_REPUTATION", json={"value": "example.com"}, headers=auth("root"))
    assert status(inside.json(), "virustotal")["error"] == EGRESS
    assert status(outside.json(), "virustotal")["status"] in ("ok", "no_data")
    assert [r.path for r in vt.requests] == ["/api/v3/domains/example.com"]


async def test_an_internal_url_never_reaches_virustotal(vt: VirusTotalEmulator) -> None:
    security = {"internal_domains": ["corp.example"], "audit": {"destination": None}}
    async with client({"virustotal": vt_instance(vt)}, security=security) as c:
        inside = await c.post(
            "/v1/queries/URL_REPUTATION", json={"value": "hxxps://wiki.corp[.]example/x"}, headers=auth("root")
        )
        outside = await c.post(
            "/v1/queries/URL_REPUTATION", json={"value": "https://example.com/wiki.corp.example"}, headers=auth("root")
        )
    assert status(inside.json(), "virustotal")["error"] == EGRESS
    assert status(outside.json(), "virustotal")["status"] in ("ok", "no_data")
    assert len(vt.requests) == 1 and vt.requests[0].path.startswith("/api/v3/urls/")


async def test_internal_values_never_reach_the_external_intel_sources(vt: VirusTotalEmulator) -> None:
    """AbuseIPDB, GreyNoise and http_json are external by default, MISP when configured so; the in-house MISP
    gets them."""
    async with (
        AbuseIpdbEmulator("abuse-key") as abuse,
        MispEmulator("misp-key") as misp,
        GreyNoiseEmulator("gn-key") as greynoise,
    ):
        declared = {
            "type": "http_json",
            "base_url": vt.base_url,
            "auth": {"type": "header", "name": "x-apikey", "value": VT_KEY},
            "requests": {"IP_REPUTATION": {"path": "/api/v3/ip_addresses/{value}", "answer": {"verdict": "'unknown'"}}},
        }
        misp_config = {"type": "misp", "api_key": "misp-key", "base_url": misp.base_url}
        providers = {
            "abuseipdb": {"type": "abuseipdb", "api_key": "abuse-key", "base_url": abuse.base_url},
            "declared": declared,
            "misp_community": {**misp_config, "egress": "external"},
            "misp_inhouse": misp_config,
            "greynoise": {"type": "greynoise", "api_key": "gn-key", "base_url": greynoise.base_url},
        }
        async with client(providers) as c:
            r = await c.post("/v1/queries/IP_REPUTATION", json={"value": "10.1.2.3"}, headers=auth("root"))
        statuses = {p["name"]: (p["status"], p["error"]) for p in r.json()["providers"]}
        sent_to_misp = [req["body"]["value"] for req in misp.requests]
        assert abuse.requests == [] and vt.requests == [] and greynoise.requests == []
    assert statuses["abuseipdb"] == statuses["declared"] == statuses["misp_community"] == ("skipped", EGRESS)
    assert statuses["greynoise"] == ("skipped", EGRESS)
    assert statuses["misp_inhouse"][0] == "no_data" and sent_to_misp == ["10.1.2.3"]


async def test_only_an_instance_that_allows_internal_values_gets_them() -> None:
    fake = {"type": "fake", "answer": "ws-1", "egress": "external"}
    b = broker(
        {"careful": fake, "trusted": {**fake, "allow_internal": True}, "inside": {"type": "fake", "answer": "ws-1"}}
    )
    async with serving(b) as c:
        r = await c.post("/v1/queries/IP_TO_HOSTNAME", json={"value": "192.168.1.1"}, headers=auth("root"))
    calls = {name: inst.provider.calls for name, inst in b.engine.instances.items()}  # type: ignore[attr-defined]
    assert calls == {"careful": 0, "trusted": 1, "inside": 1}
    assert status(r.json(), "careful")["error"] == EGRESS


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (InputKind.IP, "10.1.2.3", "internal"),
        (InputKind.IP, "172.16.0.1", "internal"),
        (InputKind.IP, "192.168.0.1", "internal"),
        (InputKind.IP, "127.0.0.1", "internal"),
        (InputKind.IP, "169.254.1.1", "internal"),
        (InputKind.IP, "100.64.0.1", "internal"),  # shared address space (CGNAT)
        (InputKind.IP, "224.0.0.1", "internal"),
        (InputKind.IP, "0.0.0.0", "internal"),
        (InputKind.IP, "fd00::1", "internal"),
        (InputKind.IP, "fe80::1", "internal"),
        (InputKind.IP, "::1", "internal"),
        (InputKind.IP, "2001:db8::1", "internal"),  # documentation range: not global
        (InputKind.IP, "8.8.8.8", "external"),
        (InputKind.IP, "2606:4700::1111", "external"),
        (InputKind.HOSTNAME, "ws-042", "internal"),
        (InputKind.HOSTNAME, "ws-042.corp.example", "internal"),
        (InputKind.HOSTNAME, "printer.local", "internal"),
        (InputKind.HOSTNAME, "db.internal", "internal"),
        (InputKind.DOMAIN, "corp.example", "internal"),
        (InputKind.DOMAIN, "notcorp.example", "external"),
        (InputKind.DOMAIN, "example.com", "external"),
        (InputKind.USERNAME, "jdoe", "internal"),
        (InputKind.MAC, "00:16:3e:12:34:56", "internal"),
        (InputKind.HASH, "44d88612fea8a8f36de82e1278abb02f", "external"),
        (InputKind.TEAM, "soc", "external"),
        (InputKind.URL, "http://10.1.2.3/admin", "internal"),
        (InputKind.URL, "https://wiki.corp.example/x", "internal"),
        (InputKind.URL, "http://[fd00::1]/", "internal"),
        (InputKind.URL, "http://intranet/", "internal"),
        (InputKind.URL, "https://example.com/corp.example", "external"),
        (InputKind.URL, "http://198.51.100.7/gate.php", "internal"),  # TEST-NET-2: not global
        (InputKind.URL, "http://8.8.8.8/", "external"),
    ],
)
def test_values_are_classified(kind: InputKind, value: str, expected: str) -> None:
    assert classify(kind, value, ["corp.example"]) == expected


def test_tlp_levels_and_skip_reasons() -> None:
    assert [parse_tlp(x) for x in ("TLP:CLEAR", "white", 1, "Amber", "red", "pink", True)] == [
        "clear",
        "clear",
        "green",
        "amber",
        "red",
        "pink",
        True,
    ]
    assert skip_reason("internal", None, False, "internal", "red") is None  # internal sources take anything
    assert skip_reason("external", None, False, "external", "amber") is None
    assert skip_reason("external", None, True, "internal", None) is None
    assert skip_reason("external", "red", False, "internal", None) == EGRESS


@pytest.mark.parametrize(
    ("query", "value"),
    [
        ("IP_REPUTATION", "fec0::1"),  # site-local
        ("IP_REPUTATION", "2002:a14:2a::"),  # 6to4 wrapping 10.20.0.42
        ("IP_REPUTATION", "64:ff9b::a14:2a"),  # NAT64 wrapping 10.20.0.42
        ("IP_REPUTATION", "2001:0:4136:e378:8000:63bf:f5eb:d5d5"),  # Teredo, client 10.20.42.42
        ("DOMAIN_REPUTATION", "fs.private"),
        ("DOMAIN_REPUTATION", "wiki.intranet"),
        ("DOMAIN_REPUTATION", "mail.lab.test"),
    ],
)
async def test_values_that_only_look_public_never_reach_virustotal(
    vt: VirusTotalEmulator, query: str, value: str
) -> None:
    async with client({"virustotal": vt_instance(vt)}) as c:
        r = await c.post(f"/v1/queries/{query}", json={"value": value}, headers=auth("root"))
    assert r.status_code == 200, r.text
    assert status(r.json(), "virustotal")["error"] == EGRESS
    assert vt.request_count == 0


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("fec0::1", "site-local address"),
        ("2002:a14:2a::", "6to4 address wrapping a private address"),
        ("64:ff9b::a14:2a", "NAT64 address wrapping a private address"),
        ("::ffff:192.168.1.1", "IPv4-mapped address wrapping a private address"),
        ("2001:0:4136:e378:8000:63bf:f5eb:d5d5", "Teredo address wrapping a private address"),
        ("2002:808:808::", None),  # 6to4 wrapping 8.8.8.8: public
        ("64:ff9b::808:808", None),  # NAT64 wrapping 8.8.8.8: public
        ("::ffff:8.8.8.8", None),
    ],
)
def test_transition_addresses_are_judged_by_the_ipv4_address_they_carry(value: str, reason: str | None) -> None:
    assert internal_reason(InputKind.IP, value) == reason


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        *[(f"host.{suffix}", "internal") for suffix in SPECIAL_USE_SUFFIXES],
        ("printer.home.arpa", "internal"),
        ("evil.example", "external"),  # documentation names count as public (RFC 6761 6.5); see egress.py
        ("10.1.2.3", "internal"),  # an address given as a name is judged as an address
    ],
)
def test_special_use_names(name: str, expected: str) -> None:
    assert classify(InputKind.HOSTNAME, name) == expected


def test_virustotal_asks_the_core_rules_and_adds_its_own_domains() -> None:
    from positron.providers.virustotal import VirusTotal, VirusTotalConfig
    from positron.queries import DOMAIN_REPUTATION

    provider = VirusTotal("vt", VirusTotalConfig(type="virustotal", api_key=VT_KEY, internal_domains=["lab.example"]))
    for value, sent in (("fs.private", False), ("a.lab.example", False), ("intranet", False), ("example.org", True)):
        reason = provider.skip_reason(Lookup(DOMAIN_REPUTATION, value))
        assert (reason is None) is sent, value
