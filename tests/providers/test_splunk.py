"""The splunk provider through splunklib against the splunkd emulator (real HTTP on 127.0.0.1, in a thread)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from positron.providers.splunk import Splunk, SplunkConfig
from positron.queries import HOST_USER, HOSTNAME_TO_IP, IP_TO_HOSTNAME, IP_TO_MAC, IP_TO_USER, USER_INFO, UserInfo
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
from positron.query import Lookup
from tests.emulators.splunk import SplunkEmulator, pipeline_shape, quoted_literals

PASSWORD = "S3cret-Pa55word!"
TOKEN = "eyJraWQiOiJzcGx1bmsuc2VjcmV0IiwiYWxnIjoiSFM1MTIifQ.token-body.sig"
T = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

DHCP_SPL = "index=dhcp sourcetype=dhcp ip={value} | sort - _time | fields _time, hostname"
SEARCHES: dict[str, Any] = {
    "IP_TO_HOSTNAME": {"spl": DHCP_SPL, "field": "hostname"},
    "HOSTNAME_TO_IP": {"spl": "search index=wineventlog ComputerName={value} | table _time src_ip", "field": "src_ip"},
    "IP_TO_MAC": {"spl": "index=dhcp ip={value} | table _time mac", "field": "mac", "window_before_s": 4 * 3600},
    "IP_TO_USER": {"spl": "index=wineventlog EventCode=4624 IpAddress={value} | table _time user", "field": "user"},
    "HOST_USER": {"spl": "index=wineventlog EventCode=4624 ComputerName={value} | table _time user", "field": "user"},
    "USER_INFO": {
        "spl": "| inputlookup identities where identity={value}",
        "field": {
            "display_name": "nick",
            "email": "email",
            "department": "bunit",
            "phone": "phone",
            "manager": "managedBy",
            "enabled": "status",
        },
    },
}


def seed(emu: SplunkEmulator) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    dhcp = {"index": "dhcp", "sourcetype": "dhcp"}
    emu.add_event(
        T - timedelta(hours=2), ip="10.1.2.3", hostname="WS-042.corp.example.", mac="AA-BB-CC-DD-EE-01", **dhcp
    )
    emu.add_event(T - timedelta(hours=5), ip="10.1.2.3", hostname="ws-042.corp.example", **dhcp)
    emu.add_event(T - timedelta(hours=3), ip="10.1.2.3", hostname="ws-017", mac="aabb.ccdd.ee02", **dhcp)
    emu.add_event(T - timedelta(hours=9), ip="10.1.2.3", hostname="Johns iPhone", **dhcp)  # not a host name
    emu.add_event(T - timedelta(days=3), ip="10.1.2.3", hostname="ws-old", **dhcp)  # before the window
    emu.add_event(T + timedelta(hours=1), ip="10.1.2.3", hostname="ws-later", **dhcp)  # after the window
    emu.add_event(T - timedelta(hours=1), ip="10.1.2.4", hostname="ws-other", **dhcp)
    emu.add_event(now - timedelta(hours=1), ip="10.9.9.9", hostname="ws-now", **dhcp)
    emu.add_event(now - timedelta(days=2), ip="10.9.9.9", hostname="ws-yesterday", **dhcp)
    win = {"index": "wineventlog", "sourcetype": "WinEventLog:Security"}
    emu.add_event(now - timedelta(minutes=5), ComputerName="ws-042", src_ip="2001:0db8::0042", **win)
    emu.add_event(now - timedelta(minutes=30), ComputerName="ws-042", src_ip="10.1.2.3", **win)
    emu.add_event(now - timedelta(minutes=40), ComputerName="ws-042", src_ip="-", **win)
    logon = {**win, "EventCode": "4624"}
    logon |= {"ComputerName": "ws-042", "IpAddress": "10.1.2.3"}
    emu.add_event(T - timedelta(hours=2), user="CORP\\JDoe", **logon)
    emu.add_event(T - timedelta(hours=1), user="-", **logon)
    emu.add_event(T - timedelta(hours=4), user="asmith@corp.example", **logon)
    emu.lookups["identities"] = [
        {"identity": "jdoe", "nick": "John Doe", "email": "jdoe@corp.example", "bunit": "IT", "phone": "+1 555 0100",
         "managedBy": "asmith", "status": "disabled"},
        {"identity": "asmith", "nick": "Alice Smith", "email": "asmith@corp.example"},
    ]


@pytest.fixture
def emu() -> Iterator[SplunkEmulator]:
    emulator = SplunkEmulator(password=PASSWORD, tokens={TOKEN})
    seed(emulator)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def make(port: int, **extra: Any) -> Splunk:
    fields: dict[str, Any] = {
        "type": "splunk",
        "host": "127.0.0.1",
        "port": port,
        "scheme": "http",
        "username": "admin",
        "password": PASSWORD,
        "timeout_s": 2.0,
        "searches": SEARCHES,
    }
    fields |= extra
    return Splunk("splunk_test", SplunkConfig.model_validate({k: v for k, v in fields.items() if v is not None}))


@pytest.fixture
async def splunk(emu: SplunkEmulator) -> AsyncIterator[Splunk]:
    provider = make(emu.port)
    await provider.open()
    try:
        yield provider
    finally:
        await provider.aclose()


# --- answers ----------------------------------------------------------------------------------------------


async def test_ip_to_hostname_at_searches_the_window_around_at(splunk: Splunk, emu: SplunkEmulator) -> None:
    answers = await splunk.ask(Lookup(IP_TO_HOSTNAME, "10.1.2.3", T))

    # the rows are the address's history: ws-042 from T-5h, ws-017 from T-3h, ws-042 again from T-2h (open)
    assert [a.value for a in answers] == ["ws-042.corp.example", "ws-017", "ws-042.corp.example"]
    assert [a.observed_at for a in answers] == [T - timedelta(hours=h) for h in (2, 3, 5)]
    assert [a.valid_from for a in answers] == [T - timedelta(hours=h) for h in (2, 3, 5)]
    assert [a.valid_to for a in answers] == [None, T - timedelta(hours=2), T - timedelta(hours=3)]
    assert {a.confidence for a in answers} == {0.85}
    [search] = emu.searches
    assert search.params["earliest_time"] == f"{T.timestamp() - 86_400:.3f}"
    assert search.params["latest_time"] == f"{T.timestamp() + 900:.3f}"
    assert search.params["exec_mode"] == "oneshot" and search.params["output_mode"] == "json"
    assert search.params["count"] == "100"
    assert search.spl == 'search index=dhcp sourcetype=dhcp ip="10.1.2.3" | sort - _time | fields _time, hostname'
    assert {a.source_ref for a in answers} == {search.params["id"]}
    assert search.params["id"].startswith("positron_")


async def test_ip_to_hostname_without_at_uses_default_earliest(splunk: Splunk, emu: SplunkEmulator) -> None:
    answers = await splunk.ask(Lookup(IP_TO_HOSTNAME, "10.9.9.9"))

    assert [a.value for a in answers] == ["ws-now"]
    [search] = emu.searches
    assert (search.params["earliest_time"], search.params["latest_time"]) == ("-24h", "now")


async def test_window_sizes_come_from_the_template(emu: SplunkEmulator) -> None:
    narrow = dict(SEARCHES["IP_TO_HOSTNAME"], window_before_s=4 * 3600, window_after_s=2 * 3600)
    provider = make(emu.port, searches={"IP_TO_HOSTNAME": narrow})
    await provider.open()
    answers = await provider.ask(Lookup(IP_TO_HOSTNAME, "10.1.2.3", T))
    await provider.aclose()
    assert [a.value for a in answers] == ["ws-later", "ws-042.corp.example", "ws-017"]


async def test_hostname_to_ip_from_windows_logs(splunk: Splunk, emu: SplunkEmulator) -> None:
    answers = await splunk.ask(Lookup(HOSTNAME_TO_IP, "ws-042"))

    assert [a.value for a in answers] == ["2001:db8::42", "10.1.2.3"]  # normalized; '-' is skipped
    assert answers[0].observed_at is not None and answers[0].observed_at > answers[1].observed_at  # type: ignore[operator]
    assert emu.searches[0].spl == 'search index=wineventlog ComputerName="ws-042" | table _time src_ip'


async def test_ip_to_mac_normalizes_macs(splunk: Splunk) -> None:
    answers = await splunk.ask(Lookup(IP_TO_MAC, "10.1.2.3", T))

    assert [a.value for a in answers] == ["aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:02"]


async def test_ip_to_user_and_host_user_from_logon_events(splunk: Splunk, emu: SplunkEmulator) -> None:
    by_ip = await splunk.ask(Lookup(IP_TO_USER, "10.1.2.3", T))
    assert [a.value for a in by_ip] == ["jdoe", "asmith@corp.example"]  # CORP\JDoe normalized; '-' skipped
    assert by_ip[0].observed_at == T - timedelta(hours=2)
    assert emu.searches[-1].spl == 'search index=wineventlog EventCode=4624 IpAddress="10.1.2.3" | table _time user'
    by_host = await splunk.ask(Lookup(HOST_USER, "ws-042", T))
    assert [a.value for a in by_host] == ["jdoe", "asmith@corp.example"]


async def test_user_info_maps_fields(splunk: Splunk, emu: SplunkEmulator) -> None:
    [answer] = await splunk.ask(Lookup(USER_INFO, "jdoe"))

    assert answer.value == UserInfo(
        username="jdoe",
        display_name="John Doe",
        email="jdoe@corp.example",
        department="IT",
        phone="+1 555 0100",
        manager="asmith",
        enabled=False,
    )
    assert answer.observed_at is None  # a lookup table has no _time
    assert emu.searches[0].spl == '| inputlookup identities where identity="jdoe"'


async def test_no_results_is_an_empty_answer(splunk: Splunk) -> None:
    assert await splunk.ask(Lookup(IP_TO_HOSTNAME, "192.0.2.1", T)) == []
    assert await splunk.ask(Lookup(USER_INFO, "nobody")) == []


async def test_permalink_when_web_url_is_set(emu: SplunkEmulator) -> None:
    provider = make(emu.port, web_url="https://splunk.corp.example:8000/")
    [answer, *_] = await provider.ask(Lookup(IP_TO_HOSTNAME, "10.1.2.3", T))
    await provider.aclose()
    assert answer.source_ref is not None
    link = urlsplit(answer.source_ref)
    assert (link.scheme, link.netloc, link.path) == ("https", "splunk.corp.example:8000", "/en-US/app/search/search")
    query = parse_qs(link.query)
    assert query["q"] == [emu.searches[0].spl]
    assert query["earliest"] == [emu.searches[0].params["earliest_time"]]


async def test_serves_only_configured_searches(emu: SplunkEmulator) -> None:
    provider = make(emu.port, searches={"ip_to_hostname": SEARCHES["IP_TO_HOSTNAME"]})
    assert provider.serves() == ["IP_TO_HOSTNAME"]
    assert Splunk.supported_queries() == [
        "HOSTNAME_TO_IP",
        "HOST_USER",
        "IP_TO_HOSTNAME",
        "IP_TO_MAC",
        "IP_TO_USER",
        "USER_INFO",
    ]
    with pytest.raises(UnsupportedInput):
        await provider.ask(Lookup(USER_INFO, "jdoe"))
    assert emu.searches == []


# --- SPL injection ----------------------------------------------------------------------------------------

INJECTIONS = [
    ('x" | delete', r'"x\" | delete"'),
    ('a\\" OR 1=1', r'"a\\\" OR 1=1"'),
    ("back\\slash\\", r'"back\\slash\\"'),
    ("\\", r'"\\"'),
    ('"', r'"\""'),
    ("a | delete | head 1", '"a | delete | head 1"'),
    ("[search index=secrets]", '"[search index=secrets]"'),
]


@pytest.mark.parametrize(("value", "literal"), INJECTIONS)
async def test_value_reaches_splunk_as_one_quoted_literal(
    splunk: Splunk, emu: SplunkEmulator, value: str, literal: str
) -> None:
    assert await splunk.ask(Lookup(IP_TO_HOSTNAME, value, T)) == []

    [search] = emu.searches
    assert search.spl == f"search index=dhcp sourcetype=dhcp ip={literal} | sort - _time | fields _time, hostname"
    assert quoted_literals(search.spl) == [value]
    assert pipeline_shape(search.spl) == pipeline_shape("search " + DHCP_SPL.replace("{value}", '"v"'))
    assert emu.deletes == []


async def test_wildcards_are_refused_before_any_search(splunk: Splunk, emu: SplunkEmulator) -> None:
    with pytest.raises(UnsupportedInput):
        await splunk.ask(Lookup(IP_TO_HOSTNAME, "10.1.*"))
    assert emu.searches == []


def test_the_emulator_would_run_an_unescaped_delete(emu: SplunkEmulator) -> None:
    """The injection test means something: unescaped, the same input does reach ``delete``."""
    from tests.emulators.splunk import SplError

    with pytest.raises(SplError):
        emu.run("search " + DHCP_SPL.replace("{value}", '"x" | delete'), {})
    assert len(emu.deletes) == 1


# --- authentication ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("scheme", "seen_as"), [("Bearer", "bearer"), ("Splunk", "splunk-token")])
async def test_token_auth(emu: SplunkEmulator, scheme: str, seen_as: str) -> None:
    provider = make(emu.port, username=None, password=None, token=TOKEN, token_scheme=scheme)
    answers = await provider.ask(Lookup(IP_TO_HOSTNAME, "10.9.9.9"))
    await provider.aclose()
    assert [a.value for a in answers] == ["ws-now"]
    assert emu.logins == 0
    assert [s.auth for s in emu.searches] == [seen_as]


async def test_bad_password_is_an_auth_error_without_the_password(emu: SplunkEmulator) -> None:
    provider = make(emu.port, password="Wr0ng-Pa55word!")
    with pytest.raises(ProviderAuthError) as caught:
        await provider.ask(Lookup(IP_TO_HOSTNAME, "10.1.2.3"))
    assert_no_secret(caught.value, "Wr0ng-Pa55word!")
    assert emu.searches == []


async def test_bad_token_is_an_auth_error_without_the_token(emu: SplunkEmulator) -> None:
    provider = make(emu.port, username=None, password=None, token="not-" + TOKEN)
    with pytest.raises(ProviderAuthError) as caught:
        await provider.ask(Lookup(IP_TO_HOSTNAME, "10.1.2.3"))
    assert_no_secret(caught.value, "not-" + TOKEN)


async def test_expired_session_logs_in_again_once(splunk: Splunk, emu: SplunkEmulator) -> None:
    assert await splunk.ask(Lookup(IP_TO_HOSTNAME, "10.9.9.9"))
    emu.expire_sessions()
    answers = await splunk.ask(Lookup(IP_TO_HOSTNAME, "10.9.9.9"))

    assert [a.value for a in answers] == ["ws-now"]
    assert emu.logins == 2
    assert [s.auth for s in emu.searches] == ["cookie", "cookie"]  # splunklib uses the splunkd_<port> cookie


def assert_no_secret(error: ProviderError, secret: str) -> None:
    assert secret not in error.message
    cause = error.__cause__
    assert cause is not None and secret not in str(cause)
    assert PASSWORD not in error.message and TOKEN not in error.message


# --- failures ---------------------------------------------------------------------------------------------


async def test_bad_search_is_a_bad_response(emu: SplunkEmulator) -> None:
    provider = make(emu.port, searches={"IP_TO_HOSTNAME": {"spl": "index=dhcp ip={value} | bogus", "field": "h"}})
    with pytest.raises(BadResponse) as caught:
        await provider.ask(Lookup(IP_TO_HOSTNAME, "10.1.2.3"))
    assert "HTTP 400" in caught.value.message
    assert len(emu.searches) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadResponse),
        (403, ProviderAuthError),
        (429, ProviderRateLimited),
        (500, ProviderUnavailable),
        (503, ProviderUnavailable),
    ],
)
async def test_http_status_maps_to_error(
    splunk: Splunk, emu: SplunkEmulator, status: int, error: type[ProviderError]
) -> None:
    emu.fail_searches(status, "Search not executed: trouble.")
    with pytest.raises(error) as caught:
        await splunk.ask(Lookup(IP_TO_HOSTNAME, "10.1.2.3"))
    assert f"HTTP {status}" in caught.value.message
    assert type(caught.value) is error


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_server_down_is_unavailable() -> None:
    provider = make(free_port())
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.ask(Lookup(IP_TO_HOSTNAME, "10.1.2.3"))
    assert "ConnectionRefusedError" in caught.value.message
    assert_no_secret(caught.value, PASSWORD)


async def test_slow_server_times_out(emu: SplunkEmulator) -> None:
    emu.delay_s = 5.0
    provider = make(emu.port, timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        await provider.ask(Lookup(IP_TO_HOSTNAME, "10.1.2.3"))
    assert time.monotonic() - started < 2.0
    assert len(emu.searches) == 1


# --- health -----------------------------------------------------------------------------------------------


async def test_health_ok(splunk: Splunk) -> None:
    health = await splunk.health()
    assert health.ok
    assert "9.1.2" in health.detail and "splunk-emu" in health.detail


async def test_health_not_ok_on_bad_credentials(emu: SplunkEmulator) -> None:
    health = await make(emu.port, password="Wr0ng-Pa55word!").health()
    assert not health.ok
    assert "authentication failed" in health.detail and "Wr0ng" not in health.detail


async def test_health_not_ok_when_down() -> None:
    health = await make(free_port()).health()
    assert not health.ok and "cannot reach" in health.detail


# --- endpoints and namespaces -----------------------------------------------------------------------------


async def test_splunk_before_9_0_2_uses_the_v1_endpoint(emu: SplunkEmulator) -> None:
    emu.version = "8.2.6"
    provider = make(emu.port)
    assert await provider.ask(Lookup(IP_TO_HOSTNAME, "10.9.9.9"))
    await provider.aclose()
    assert emu.searches[0].path == "/services/search/jobs/"


async def test_namespace_uses_services_ns(emu: SplunkEmulator) -> None:
    provider = make(emu.port, owner="nobody", app="SA-IdentityManagement")
    assert await provider.ask(Lookup(USER_INFO, "asmith"))
    await provider.aclose()
    assert emu.searches[0].path == "/servicesNS/nobody/SA-IdentityManagement/search/v2/jobs/"


# --- config -----------------------------------------------------------------------------------------------


def config(**extra: Any) -> SplunkConfig:
    base = {"type": "splunk", "host": "splunk.corp.example", "username": "svc", "password": PASSWORD}
    return SplunkConfig.model_validate(base | extra)


def test_config_adds_search_keyword() -> None:
    cfg = config(searches={"IP_TO_HOSTNAME": {"spl": " index=x ip={value}", "field": "h"}})
    assert cfg.searches["IP_TO_HOSTNAME"].spl == "search index=x ip={value}"


@pytest.mark.parametrize(
    "extra",
    [
        {"token": TOKEN},  # both a token and a login
        {"password": None},
        {"searches": {"IP_TO_HOSTNAME": {"spl": 'index=x ip="{value}"', "field": "h"}}},
        {"searches": {"IP_TO_HOSTNAME": {"spl": "index=x", "field": "h"}}},
        {"searches": {"IP_TO_HOSTNAME": {"spl": "index=x ip={value}", "field": {"display_name": "h"}}}},
        {"searches": {"USER_INFO": {"spl": "| inputlookup i where identity={value}", "field": "nick"}}},
        {"searches": {"USER_INFO": {"spl": "| inputlookup i where identity={value}", "field": {"nickname": "x"}}}},
        {"searches": {"HASH_REPUTATION": {"spl": "index=x hash={value}", "field": "h"}}},
        {"web_url": "https://user:pw@splunk.corp.example"},
    ],
)
def test_config_rejects(extra: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        config(**extra)
    assert PASSWORD not in str(caught.value)


# --- TLS --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl CLI), as (cert.pem, key.pem)."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make a test certificate (./dev test installs it)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_emu(certificate: tuple[Path, Path]) -> Iterator[SplunkEmulator]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    emulator = SplunkEmulator(password=PASSWORD)
    seed(emulator)
    emulator.start(tls=context)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.mark.parametrize("verify", [{"ca_file": "CERT"}, {"verify": False}])
async def test_https_with_ca_file_or_without_verification(
    tls_emu: SplunkEmulator, certificate: tuple[Path, Path], verify: dict[str, Any]
) -> None:
    extra = {k: str(certificate[0]) if v == "CERT" else v for k, v in verify.items()}
    provider = make(tls_emu.port, scheme="https", **extra)
    answers = await provider.ask(Lookup(IP_TO_HOSTNAME, "10.9.9.9"))
    await provider.aclose()
    assert [a.value for a in answers] == ["ws-now"]


async def test_https_with_an_untrusted_certificate_is_unavailable(tls_emu: SplunkEmulator) -> None:
    provider = make(tls_emu.port, scheme="https")
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.ask(Lookup(IP_TO_HOSTNAME, "10.9.9.9"))
    assert "TLS certificate verification failed" in caught.value.message
    assert tls_emu.logins == 0


# --- concurrency ------------------------------------------------------------------------------------------


async def test_concurrent_asks_share_one_login(splunk: Splunk, emu: SplunkEmulator) -> None:
    lookups = [Lookup(IP_TO_HOSTNAME, "10.9.9.9"), Lookup(HOSTNAME_TO_IP, "ws-042"), Lookup(USER_INFO, "jdoe")] * 10
    results = await asyncio.gather(*(splunk.ask(lookup) for lookup in lookups))

    assert [len(r) for r in results] == [1, 2, 1] * 10
    assert emu.logins == 1
    assert emu.requests.count(("GET", "/services/server/info")) == 2  # once for the instance type, once for the version
    assert len(emu.searches) == 30
