"""The VirusTotal provider against the VirusTotal API v3 emulator (tests/emulators/virustotal.py)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from importlib.metadata import entry_points
from typing import Any

import aiohttp
import pytest
from positron.providers.virustotal import EICAR_SHA256, VirusTotal, url_id
from positron.queries import DOMAIN_REPUTATION, HASH_REPUTATION, IP_REPUTATION, URL_REPUTATION, Reputation, Verdict
from pydantic import ValidationError

from positron.errors import (
    BadResponse,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    UnsupportedInput,
)
from positron.provider import RateLimit
from positron.query import Answer, Lookup
from tests.emulators.virustotal import VirusTotalEmulator

API_KEY = "vt-test-key-0123456789abcdef0123456789abcdef"
SAMPLE = b"positron virustotal test sample"
SHA256 = hashlib.sha256(SAMPLE).hexdigest()
SHA1 = hashlib.sha1(SAMPLE).hexdigest()
MD5 = hashlib.md5(SAMPLE).hexdigest()
ANALYSED = 1_700_000_000  # 2023-11-14T22:13:20Z
UNKNOWN_SHA256 = "0" * 64

MakeProvider = Callable[..., Any]


@pytest.fixture
async def vt() -> AsyncIterator[VirusTotalEmulator]:
    emulator = VirusTotalEmulator(api_key=API_KEY)
    await emulator.start()
    emulator.add_file(
        sha256=SHA256,
        sha1=SHA1,
        md5=MD5,
        stats={"malicious": 12, "suspicious": 1, "undetected": 50, "harmless": 0, "type-unsupported": 8},
        label="trojan.emotet/heodo",
        meaningful_name="invoice.exe",
        last_analysis_date=ANALYSED,
    )
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
def make_provider(vt: VirusTotalEmulator) -> Callable[..., Any]:
    @asynccontextmanager
    async def make(**config: Any) -> AsyncIterator[VirusTotal]:
        raw = {"type": "virustotal", "api_key": API_KEY, "base_url": vt.base_url, **config}
        provider = VirusTotal("vt", VirusTotal.Config.model_validate(raw))
        await provider.open()
        try:
            yield provider
        finally:
            await provider.aclose()

    return make


async def ask(make_provider: MakeProvider, query: Any, value: str, **config: Any) -> list[Answer[Any]]:
    async with make_provider(**config) as provider:
        return await provider.ask(Lookup(query, query.normalize(value)))


async def failure(make_provider: MakeProvider, query: Any = HASH_REPUTATION, value: str = SHA256, **config: Any):
    with pytest.raises(ProviderError) as info:
        await ask(make_provider, query, value, **config)
    return info.value


# found / not found


@pytest.mark.parametrize("value", [SHA256, SHA1, MD5, SHA1.upper()], ids=["sha256", "sha1", "md5", "upper"])
async def test_hash_found_by_each_hash_form(make_provider: MakeProvider, vt: VirusTotalEmulator, value: str):
    (answer,) = await ask(make_provider, HASH_REPUTATION, value)
    link = f"https://www.virustotal.com/gui/file/{SHA256}"
    assert answer.value == Reputation(
        verdict=Verdict.MALICIOUS,
        malicious=12,
        suspicious=1,
        harmless=0,
        undetected=50,
        total=63,
        label="trojan.emotet/heodo",
        link=link,
    )
    assert answer.source_ref == link
    assert answer.observed_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert answer.confidence == 1.0
    assert vt.requests[-1].path == f"/api/v3/files/{value.lower()}"


async def test_label_falls_back_to_meaningful_name(make_provider: MakeProvider, vt: VirusTotalEmulator):
    vt.add_file(sha256="a" * 64, stats={"undetected": 10}, meaningful_name="setup.exe")
    (answer,) = await ask(make_provider, HASH_REPUTATION, "a" * 64)
    assert answer.value.label == "setup.exe"
    assert answer.value.verdict == Verdict.HARMLESS
    assert answer.confidence == 0.5  # 10 engines answered / 20


@pytest.mark.parametrize(
    ("stats", "threshold", "verdict", "confidence"),
    [
        ({"malicious": 3, "undetected": 60}, 3, Verdict.MALICIOUS, 1.0),
        ({"malicious": 2, "undetected": 60}, 3, Verdict.SUSPICIOUS, 1.0),
        ({"malicious": 5, "undetected": 60}, 10, Verdict.SUSPICIOUS, 1.0),
        ({"suspicious": 1, "harmless": 3}, 3, Verdict.SUSPICIOUS, 0.3),
        ({"harmless": 2, "undetected": 8, "timeout": 9, "type-unsupported": 9}, 3, Verdict.HARMLESS, 0.5),
        ({"timeout": 5, "failure": 2}, 3, Verdict.UNKNOWN, 0.3),
    ],
)
async def test_verdict_rules(
    make_provider: MakeProvider, vt: VirusTotalEmulator, stats, threshold, verdict, confidence
):
    vt.add_file(sha256="b" * 64, stats=stats)
    (answer,) = await ask(make_provider, HASH_REPUTATION, "b" * 64, malicious_threshold=threshold)
    assert answer.value.verdict == verdict
    assert answer.value.label is None
    assert answer.value.total == sum(stats.get(k, 0) for k in ("malicious", "suspicious", "harmless", "undetected"))
    assert answer.confidence == pytest.approx(confidence)


async def test_hash_not_found_is_no_data(make_provider: MakeProvider, vt: VirusTotalEmulator):
    assert await ask(make_provider, HASH_REPUTATION, UNKNOWN_SHA256) == []
    assert vt.request_count == 1


async def test_ip_reputation(make_provider: MakeProvider, vt: VirusTotalEmulator):
    vt.add_ip("185.220.101.4", stats={"malicious": 4, "harmless": 60, "undetected": 26}, last_analysis_date=ANALYSED)
    (answer,) = await ask(make_provider, IP_REPUTATION, "185.220.101.4")
    assert answer.value.verdict == Verdict.MALICIOUS
    assert (answer.value.malicious, answer.value.total) == (4, 90)
    assert answer.value.link == answer.source_ref == "https://www.virustotal.com/gui/ip-address/185.220.101.4"
    assert answer.observed_at == datetime.fromtimestamp(ANALYSED, UTC)
    assert vt.requests[-1].path == "/api/v3/ip_addresses/185.220.101.4"


async def test_ip_never_analysed_is_unknown(make_provider: MakeProvider):
    # VirusTotal answers for any public address; without analyses there is nothing to judge.
    (answer,) = await ask(make_provider, IP_REPUTATION, "8.8.8.8")
    assert answer.value.verdict == Verdict.UNKNOWN
    assert answer.value.total == 0
    assert answer.confidence == 0.3
    assert answer.observed_at is None


async def test_ipv6_reputation(make_provider: MakeProvider, vt: VirusTotalEmulator):
    vt.add_ip("2001:4860:4860::8888", stats={"harmless": 70, "undetected": 20})
    (answer,) = await ask(make_provider, IP_REPUTATION, "2001:4860:4860:0::8888")
    assert answer.value.verdict == Verdict.HARMLESS
    assert answer.value.link == "https://www.virustotal.com/gui/ip-address/2001:4860:4860::8888"
    assert vt.requests[-1].path == "/api/v3/ip_addresses/2001:4860:4860::8888"


async def test_domain_reputation(make_provider: MakeProvider, vt: VirusTotalEmulator):
    vt.add_domain("bad.example.net", stats={"malicious": 1, "harmless": 62, "undetected": 25})
    (answer,) = await ask(make_provider, DOMAIN_REPUTATION, "Bad.Example.NET.")
    assert answer.value.verdict == Verdict.SUSPICIOUS
    assert answer.value.link == "https://www.virustotal.com/gui/domain/bad.example.net"
    assert vt.requests[-1].path == "/api/v3/domains/bad.example.net"


async def test_domain_not_found_is_no_data(make_provider: MakeProvider):
    assert await ask(make_provider, DOMAIN_REPUTATION, "never-seen.example.org") == []


async def test_url_reputation_by_unpadded_base64url_id(make_provider: MakeProvider, vt: VirusTotalEmulator):
    url = "https://login.bad.example.net/?next=%2Fa&x=~"
    vt.add_url(url, stats={"malicious": 7, "harmless": 50}, last_analysis_date=ANALYSED)
    (answer,) = await ask(make_provider, URL_REPUTATION, "hxxps://LOGIN.bad[.]example[.]net/?next=%2Fa&x=~#top")
    sha256 = hashlib.sha256(url.encode()).hexdigest()
    assert answer.value.verdict == Verdict.MALICIOUS and (answer.value.malicious, answer.value.total) == (7, 57)
    assert answer.value.link == f"https://www.virustotal.com/gui/url/{sha256}"
    assert answer.observed_at == datetime.fromtimestamp(ANALYSED, UTC)
    encoded = vt.requests[-1].path.rsplit("/", 1)[1]
    assert encoded == url_id(url) and "=" not in encoded and "+" not in encoded and "/" not in encoded
    assert base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode() == url


async def test_url_not_found_is_no_data_and_the_emulator_refuses_padding(
    make_provider: MakeProvider, vt: VirusTotalEmulator
):
    assert await ask(make_provider, URL_REPUTATION, "https://never-seen.example.org/x") == []
    async with aiohttp.ClientSession(headers={"x-apikey": API_KEY}) as http:
        async with http.get(f"{vt.base_url}/api/v3/urls/aHR0cDovL2EuYi8=") as padded:
            assert padded.status == 400 and (await padded.json())["error"]["code"] == "InvalidArgumentError"


# errors


async def test_wrong_key_is_auth_error(make_provider: MakeProvider):
    error = await failure(make_provider, api_key="wrong-key-123")
    assert isinstance(error, ProviderAuthError)
    assert "WrongCredentialsError" in error.message
    assert not error.transient


async def test_forbidden_is_auth_error(make_provider: MakeProvider, vt: VirusTotalEmulator):
    vt.fail(403, "ForbiddenError")
    assert isinstance(await failure(make_provider), ProviderAuthError)


async def test_not_available_yet_is_no_data(make_provider: MakeProvider, vt: VirusTotalEmulator):
    vt.fail(400, "NotAvailableYet")
    assert await ask(make_provider, HASH_REPUTATION, SHA256) == []


async def test_quota_exceeded_carries_retry_after(make_provider: MakeProvider, vt: VirusTotalEmulator):
    vt.fail(429, "QuotaExceededError", retry_after=30)
    error = await failure(make_provider)
    assert isinstance(error, ProviderRateLimited)
    assert error.retry_after == 30.0


async def test_too_many_requests_with_http_date_retry_after(make_provider: MakeProvider, vt: VirusTotalEmulator):
    vt.fail(
        429, "TooManyRequestsError", retry_after=format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    )
    error = await failure(make_provider)
    assert isinstance(error, ProviderRateLimited)
    assert error.retry_after is not None and 80 <= error.retry_after <= 90


async def test_rate_limited_without_retry_after(make_provider: MakeProvider, vt: VirusTotalEmulator):
    vt.fail(429, "QuotaExceededError")
    error = await failure(make_provider)
    assert isinstance(error, ProviderRateLimited) and error.retry_after is None


async def test_emulated_public_quota_yields_rate_limited(make_provider: MakeProvider, vt: VirusTotalEmulator):
    vt.quota = (2, 60.0)
    async with make_provider() as provider:
        for _ in range(2):
            assert await provider.ask(Lookup(HASH_REPUTATION, SHA256))
        with pytest.raises(ProviderRateLimited):
            await provider.ask(Lookup(HASH_REPUTATION, SHA256))


@pytest.mark.parametrize(
    ("status", "code"), [(500, "InternalError"), (503, "TransientError"), (504, "DeadlineExceededError")]
)
async def test_server_errors_are_transient_unavailable(
    make_provider: MakeProvider, vt: VirusTotalEmulator, status: int, code: str
):
    vt.fail(status, code)
    error = await failure(make_provider)
    assert isinstance(error, ProviderUnavailable)
    assert error.transient
    assert str(status) in error.message


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": {"id": "x", "type": "file", "attri',
        b"<html>Bad gateway</html>",
        b'{"data": []}',
        b'{"data": {"id": "abc", "type": "file", "attributes": {}}}',  # a file id is always a SHA-256
        b'{"data": {"id": "1.2.3.4", "type": "ip_address", "attributes": {}}}',  # the wrong type
        b'{"data": {"id": "' + SHA256.encode() + b'", "type": "file", "attributes": '
        b'{"last_analysis_stats": {"malicious": "many"}}}}',
    ],
    ids=["truncated", "html", "data-list", "bad-file-id", "wrong-type", "stats-not-counts"],
)
async def test_malformed_or_unexpected_body_is_bad_response(
    make_provider: MakeProvider, vt: VirusTotalEmulator, body: bytes
):
    vt.fail_raw(200, body)
    assert isinstance(await failure(make_provider), BadResponse)


async def test_redirect_is_not_followed(make_provider: MakeProvider, vt: VirusTotalEmulator):
    vt.fail_raw(302, b"", headers={"Location": f"{vt.base_url}/api/v3/files/{SHA256}"})
    assert isinstance(await failure(make_provider), BadResponse)
    assert vt.request_count == 1  # the key was not sent on to the redirect target


async def test_404_without_virustotal_error_is_bad_response(make_provider: MakeProvider, vt: VirusTotalEmulator):
    error = await failure(make_provider, base_url=f"{vt.base_url}/wrong-prefix")
    assert isinstance(error, BadResponse)
    assert "base_url" in error.message


async def test_invalid_argument_is_unsupported_input(make_provider: MakeProvider, vt: VirusTotalEmulator):
    vt.fail(400, "InvalidArgumentError")
    assert isinstance(await failure(make_provider), UnsupportedInput)


async def test_server_down_is_unavailable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = VirusTotal.Config.model_validate(
        {"type": "virustotal", "api_key": API_KEY, "base_url": f"http://127.0.0.1:{port}"}
    )
    provider = VirusTotal("vt", config)
    await provider.open()
    try:
        with pytest.raises(ProviderUnavailable) as info:
            await provider.ask(Lookup(HASH_REPUTATION, SHA256))
        assert not info.value.transient  # unreachable: retries would only spend the 4/minute quota
        assert (await provider.health()).ok is False
    finally:
        await provider.aclose()


async def test_hang_longer_than_timeout_is_provider_timeout(make_provider: MakeProvider, vt: VirusTotalEmulator):
    vt.hang(5.0)
    error = await failure(make_provider, timeout_s=0.2)
    assert isinstance(error, ProviderTimeout)
    assert not error.transient  # a call that timed out is not retried (positron.errors)


async def test_not_open_is_unavailable(vt: VirusTotalEmulator):
    config = VirusTotal.Config.model_validate({"type": "virustotal", "api_key": API_KEY, "base_url": vt.base_url})
    with pytest.raises(ProviderUnavailable):
        await VirusTotal("vt", config).ask(Lookup(HASH_REPUTATION, SHA256))


# health


async def test_health_ok(make_provider: MakeProvider, vt: VirusTotalEmulator):
    async with make_provider() as provider:
        assert (await provider.health()).ok
    assert vt.requests[-1].path == f"/api/v3/files/{EICAR_SHA256}"


async def test_health_ok_when_eicar_unknown():
    # a 404 NotFoundError from VirusTotal still proves the key works
    async with VirusTotalEmulator(api_key=API_KEY, seed_eicar=False) as emulator:
        config = {"type": "virustotal", "api_key": API_KEY, "base_url": emulator.base_url}
        provider = VirusTotal("vt", VirusTotal.Config.model_validate(config))
        await provider.open()
        try:
            health = await provider.health()
        finally:
            await provider.aclose()
        assert emulator.request_count == 1
    assert health.ok


async def test_health_wrong_key(make_provider: MakeProvider):
    async with make_provider(api_key="wrong-key-123") as provider:
        health = await provider.health()
    assert health.ok is False
    assert health.detail == "authentication failed"


async def test_health_rate_limited(make_provider: MakeProvider, vt: VirusTotalEmulator):
    vt.fail(429, "QuotaExceededError")
    async with make_provider() as provider:
        health = await provider.health()
    assert not health.ok and "rate limited" in health.detail


# never sent to an external service


@pytest.mark.parametrize(
    ("query", "value"),
    [
        (IP_REPUTATION, "10.1.2.3"),
        (IP_REPUTATION, "127.0.0.1"),
        (IP_REPUTATION, "169.254.1.1"),
        (IP_REPUTATION, "100.64.0.9"),
        (IP_REPUTATION, "224.0.0.251"),
        (IP_REPUTATION, "::1"),
        (IP_REPUTATION, "fd00::5"),
        (IP_REPUTATION, "::ffff:192.168.1.1"),
        (DOMAIN_REPUTATION, "ws-042.corp.example.com"),
        (DOMAIN_REPUTATION, "corp.example.com"),
        (DOMAIN_REPUTATION, "printer.local"),
        (DOMAIN_REPUTATION, "db.internal"),
    ],
)
async def test_internal_values_are_never_sent(make_provider: MakeProvider, vt: VirusTotalEmulator, query, value):
    async with make_provider(internal_domains=[".Corp.Example.com"]) as provider:
        lookup = Lookup(query, query.normalize(value))
        reason = provider.skip_reason(lookup)
        assert reason is not None and "not sent to an external service" in reason
        with pytest.raises(UnsupportedInput):
            await provider.ask(lookup)
    assert vt.request_count == 0


async def test_skip_reason_private_address_wording(make_provider: MakeProvider):
    async with make_provider() as provider:
        reason = provider.skip_reason(Lookup(IP_REPUTATION, "10.1.2.3"))
    assert reason == "private address not sent to an external service"


@pytest.mark.parametrize(
    ("query", "value"),
    [
        (IP_REPUTATION, "8.8.8.8"),
        (IP_REPUTATION, "2001:4860:4860::8888"),
        (DOMAIN_REPUTATION, "notcorp.example.com"),
        (DOMAIN_REPUTATION, "example.org"),
        (HASH_REPUTATION, SHA256),
        (URL_REPUTATION, "https://example.org/corp.example.com"),
    ],
)
async def test_public_values_are_sent(make_provider: MakeProvider, query, value):
    async with make_provider(internal_domains=["corp.example.com"]) as provider:
        assert provider.skip_reason(Lookup(query, query.normalize(value))) is None


# the API key


async def test_api_key_only_in_the_header_and_never_in_errors(make_provider: MakeProvider, vt: VirusTotalEmulator):
    errors: list[ProviderError] = []
    vt.fail(429, "QuotaExceededError", retry_after=5)
    vt.fail(500, "InternalError", message=f"echo {API_KEY}")
    vt.fail_raw(200, b'{"data": {"id": "' + API_KEY.encode() + b'"}}')
    vt.fail(401, "WrongCredentialsError", message=f"Wrong API key {API_KEY}")
    vt.hang(5.0)
    async with make_provider(timeout_s=0.2) as provider:
        for value in (SHA256, MD5, SHA1, SHA256, SHA256):
            with pytest.raises(ProviderError) as info:
                await provider.ask(Lookup(HASH_REPUTATION, value))
            errors.append(info.value)
        await provider.ask(Lookup(IP_REPUTATION, "8.8.8.8"))
        await provider.ask(Lookup(DOMAIN_REPUTATION, "example.org"))
        texts = [repr(provider), repr(provider.config), str(provider.config), provider.config.model_dump_json()]
    assert [type(e) for e in errors] == [
        ProviderRateLimited,
        ProviderUnavailable,
        BadResponse,
        ProviderAuthError,
        ProviderTimeout,
    ]
    texts += [str(e) for e in errors] + [repr(e) for e in errors] + [str(e.__cause__) for e in errors]
    assert not [text for text in texts if API_KEY in text]
    assert len(vt.requests) == 7
    for request in vt.requests:
        assert request.headers["x-apikey"] == API_KEY
        assert API_KEY not in request.raw_path and API_KEY not in request.query_string
        assert [name for name, value in request.headers.items() if API_KEY in value] == ["x-apikey"]


async def test_api_key_from_env(make_provider: MakeProvider, vt: VirusTotalEmulator, monkeypatch):
    monkeypatch.setenv("POSITRON_TEST_VT_KEY", API_KEY)
    assert await ask(make_provider, HASH_REPUTATION, SHA256, api_key={"env": "POSITRON_TEST_VT_KEY"})


# config, session, registration


def test_config_defaults_for_the_public_api():
    config = VirusTotal.Config.model_validate({"type": "virustotal", "api_key": "k"})
    assert config.egress == "external"
    assert config.rate_limits == [RateLimit(requests=4, per_s=60), RateLimit(requests=500, per_s=86_400)]
    assert config.base_url == "https://www.virustotal.com"
    assert config.malicious_threshold == 3
    assert config.internal_domains == []
    premium = VirusTotal.Config.model_validate(
        {"type": "virustotal", "api_key": "k", "rate_limits": [{"requests": 1000, "per_s": 60}]}
    )
    assert premium.rate_limits == [RateLimit(requests=1000, per_s=60)]


@pytest.mark.parametrize(
    "bad",
    [
        {"base_url": "ftp://www.virustotal.com"},
        {"base_url": "https://user:pw@www.virustotal.com"},
        {"base_url": "https://www.virustotal.com/?apikey=x"},
        {"malicious_threshold": 0},
        {"internal_domains": ["not a domain"]},
        {"api_key": None},
    ],
)
def test_config_rejects(bad: dict[str, Any]):
    with pytest.raises(ValidationError):
        VirusTotal.Config.model_validate({"type": "virustotal", "api_key": "k", **bad})


async def test_connector_limit_is_max_concurrency(make_provider: MakeProvider, vt: VirusTotalEmulator):
    vt.latency_s = 0.05
    async with make_provider(max_concurrency=2) as provider:
        await asyncio.gather(*(provider.ask(Lookup(HASH_REPUTATION, SHA256)) for _ in range(6)))
    assert vt.request_count == 6
    assert vt.max_in_flight == 2


def test_registered_entry_point_and_queries():
    (ep,) = [ep for ep in entry_points(group="positron.providers") if ep.name == "virustotal"]
    assert ep.load() is VirusTotal
    assert VirusTotal.type_name == "virustotal"
    assert VirusTotal.supported_queries() == [
        "DOMAIN_REPUTATION",
        "HASH_REPUTATION",
        "IP_REPUTATION",
        "URL_REPUTATION",
    ]


# the emulator itself speaks the real error documents


async def test_emulator_auth_errors_match_the_api(vt: VirusTotalEmulator):
    url = f"{vt.base_url}/api/v3/files/{SHA256}"
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "AuthenticationRequiredError"
        async with session.get(url, headers={"x-apikey": "nope"}) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "WrongCredentialsError"
        async with session.get(url, headers={"x-apikey": API_KEY}) as resp:
            doc = await resp.json()
    data = doc["data"]
    assert (data["id"], data["type"]) == (SHA256, "file")
    assert data["links"]["self"] == url
    assert set(data["attributes"]["last_analysis_stats"]) == {
        "harmless",
        "type-unsupported",
        "suspicious",
        "confirmed-timeout",
        "timeout",
        "failure",
        "malicious",
        "undetected",
    }
    assert len(data["attributes"]["last_analysis_results"]) == 71
    assert {data["attributes"][k] for k in ("md5", "sha1", "sha256")} == {MD5, SHA1, SHA256}
