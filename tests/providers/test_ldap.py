"""The ldap provider against a real OpenLDAP slapd (tests/support/slapd.py) with a small AD-like schema.

What slapd cannot show: NTLM binds (slapd has no NTLM; the code path is exercised up to the server's refusal) and
LDAP_MATCHING_RULE_IN_CHAIN (an AD matching rule: slapd evaluates it to "undefined", matching nothing).
"""

from __future__ import annotations

import asyncio
import gc
import re
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import ldap3
import pydantic
import pytest
from ldap3.utils.ntlm import NtlmClient
from positron.providers.ldap import Ldap, LdapConfig
from positron.providers.ldap._directory import Entry, md4_available, rdn_value
from positron.queries import USER_GROUPS, USER_INFO, USER_MANAGER, Person, UserInfo

from positron.errors import BadResponse, PositronError, ProviderAuthError, ProviderTimeout, ProviderUnavailable
from positron.query import Answer, Lookup, Query
from tests.support import slapd as slapd_support
from tests.support.slapd import Slapd, free_port, running_slapd

# No skip when slapd is missing: ./dev test installs it, and a silent skip would hide an untested provider.
assert slapd_support.available(), "slapd, slapadd and openssl are needed: ./dev test installs them"

PEOPLE = "ou=people,dc=corp,dc=example"
WRONG_PASSWORD = "Wr0ng-Pa55word-zz"


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with running_slapd(tmp_path_factory.mktemp("slapd")) as server:
        yield server


def make(server: Slapd, **overrides: Any) -> Ldap:
    raw = {
        "type": "ldap",
        "servers": [server.url],
        "bind_user": server.bind_dn,
        "bind_password": server.bind_password,
        "base_dn": server.base_dn,
        "user_attribute": "uid",
        "tls": "none",
        "connect_timeout_s": 1,
        "receive_timeout_s": 2,
        **overrides,
    }
    config = Ldap.Config.model_validate(raw)
    assert isinstance(config, LdapConfig)
    return Ldap("ad_test", config)


@pytest.fixture
async def ldap(slapd: Slapd) -> AsyncIterator[Ldap]:
    provider = make(slapd)
    await provider.open()
    yield provider
    await provider.aclose()


async def ask(provider: Ldap, query: Query[Any], value: str) -> list[Answer[Any]]:
    return await provider.ask(Lookup(query, value))


async def ask_once(server: Slapd, query: Query[Any], value: str, **overrides: Any) -> list[Answer[Any]]:
    provider = make(server, **overrides)
    await provider.open()
    try:
        return await ask(provider, query, value)
    finally:
        await provider.aclose()


def assert_safe(exc: PositronError | str, *secrets: str) -> None:
    for text in (exc, str(exc), repr(exc)) if isinstance(exc, PositronError) else (exc,):
        for secret in (slapd_support.BIND_PASSWORD, WRONG_PASSWORD, *secrets):
            assert secret not in str(text)


def searches_since(server: Slapd, before: int, expected: int) -> list[tuple[str, int]]:
    """The searches slapd logged after the first ``before``, waiting briefly for the log to catch up."""
    deadline = time.monotonic() + 2
    while len(found := server.searches()[before:]) < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return found


def binds(server: Slapd) -> int:
    return len(re.findall(r" BIND dn=.* method=", server.log()))


def dead_url() -> str:
    return f"ldap://127.0.0.1:{free_port()}"  # nothing listens: connection refused


# --- USER_INFO ---


async def test_user_info_reads_every_field(ldap: Ldap) -> None:
    before = datetime.now(UTC)
    [answer] = await ask(ldap, USER_INFO, "jdoe")
    assert answer.value == UserInfo(
        username="jdoe",
        display_name="John Doe",
        email="john.doe@corp.example",
        title="Security Engineer",
        department="Security",
        company="Corp Example",
        location="Berlin",
        phone="+49 30 1234",
        enabled=True,
        expires=datetime(2100, 1, 1, tzinfo=UTC),  # accountExpires in AD's 100 ns ticks since 1601
        manager="asmith",
    )
    assert answer.confidence == 1.0
    assert answer.source_ref == f"uid=jdoe,{PEOPLE}"
    assert answer.observed_at is not None and before <= answer.observed_at <= datetime.now(UTC)


async def test_user_info_office_when_no_city_and_other_account_flags(ldap: Ldap) -> None:
    [answer] = await ask(ldap, USER_INFO, "asmith")
    assert answer.value.location == "Munich HQ"  # physicalDeliveryOfficeName: asmith has no l
    assert answer.value.enabled is True  # 66048 = NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD
    assert answer.value.manager == "cboss"
    [top] = await ask(ldap, USER_INFO, "cboss")
    assert top.value.manager is None


async def test_an_account_past_its_expiry_is_not_enabled(ldap: Ldap) -> None:
    """userAccountControl 512 (enabled) but accountExpires 2022-06-01: AD refuses its logons, and so do we."""
    [answer] = await ask(ldap, USER_INFO, "tgone")
    assert answer.value.enabled is False
    assert answer.value.expires == datetime(2022, 6, 1, tzinfo=UTC)
    [never] = await ask(ldap, USER_INFO, "asmith")  # 2**63 - 1: AD's "never"
    assert never.value.expires is None and never.value.enabled is True


async def test_disabled_account_and_dangling_manager(ldap: Ldap) -> None:
    [answer] = await ask(ldap, USER_INFO, "mold")
    assert answer.value.enabled is False  # userAccountControl 514 = NORMAL_ACCOUNT | ACCOUNTDISABLE
    assert answer.value.manager is None  # manager points to uid=gone, which does not exist


async def test_entry_with_only_the_basics(ldap: Ldap) -> None:
    [answer] = await ask(ldap, USER_INFO, "bare")
    assert answer.value == UserInfo(username="bare", display_name="Bare Minimum")  # cn stands in, enabled None


@pytest.mark.parametrize("value", ["jdoe@corp.example", "john.doe@corp.example"], ids=["upn", "mail"])
async def test_user_info_by_upn_or_email(ldap: Ldap, value: str) -> None:
    [answer] = await ask(ldap, USER_INFO, value)
    assert answer.value.username == "jdoe"
    assert answer.value.email == "john.doe@corp.example"


async def test_ad_account_attribute_matches_case_insensitively(slapd: Slapd) -> None:
    [answer] = await ask_once(slapd, USER_INFO, "jdoe", user_attribute="sAMAccountName")
    assert answer.value.username == "jdoe"  # stored as JDoe, answered lower case
    assert answer.value.manager == "asmith"


async def test_an_address_shared_by_two_people_gives_two_weaker_answers(ldap: Ldap) -> None:
    answers = await ask(ldap, USER_INFO, "leads@corp.example")
    assert sorted(a.value.username for a in answers) == ["asmith", "cboss"]
    assert [a.confidence for a in answers] == [0.5, 0.5]


async def test_user_filter_keeps_groups_out(slapd: Slapd) -> None:
    # The helpdesk group carries sAMAccountName too, as AD groups do; the default (objectClass=person) skips it.
    assert await ask_once(slapd, USER_INFO, "helpdesk", user_attribute="sAMAccountName") == []
    everything = await ask_once(slapd, USER_INFO, "helpdesk", user_attribute="sAMAccountName", user_filter="(cn=*)")
    assert [a.value.username for a in everything] == ["helpdesk"]


# --- USER_MANAGER ---


async def test_manager_chain(ldap: Ldap) -> None:
    [first] = await ask(ldap, USER_MANAGER, "jdoe")
    assert first.value == Person(
        username="asmith", display_name="Alice Smith", email="alice.smith@corp.example", title="Engineering Manager"
    )
    assert first.source_ref == f"uid=asmith,{PEOPLE}"
    assert first.confidence == 1.0 and first.observed_at is not None
    [second] = await ask(ldap, USER_MANAGER, "asmith@corp.example")
    assert second.value.username == "cboss" and second.value.title == "Chief Technology Officer"
    assert await ask(ldap, USER_MANAGER, "cboss") == []  # the top of the chain


async def test_manager_that_no_longer_exists_is_no_data(ldap: Ldap) -> None:
    assert await ask(ldap, USER_MANAGER, "mold") == []


# --- USER_GROUPS ---


async def test_groups_from_member_of(ldap: Ldap) -> None:
    [answer] = await ask(ldap, USER_GROUPS, "jdoe")
    assert answer.value == ["engineering", "Smith, Fans", "vpn-users"]  # the CN, unescaped; sorted
    assert answer.source_ref == f"uid=jdoe,{PEOPLE}" and answer.confidence == 1.0


async def test_user_without_groups_is_an_empty_list(ldap: Ldap) -> None:
    [answer] = await ask(ldap, USER_GROUPS, "cboss")
    assert answer.value == []


async def test_nested_groups_search_uses_in_chain_with_an_escaped_dn(slapd: Slapd) -> None:
    before = len(slapd.searches())
    # Pat's DN is "cn=Pat (Contractor)*,…": unescaped in the filter, ldap3 could not even parse it.
    [answer] = await ask_once(slapd, USER_GROUPS, "pat", nested_groups=True)
    assert answer.value == ["vpn-users"]
    found = searches_since(slapd, before, 2)
    assert len(found) == 2
    # slapd has no IN_CHAIN rule: it logs the extensible match as undefined and matches nothing (AD would).
    assert found[1] == ("(?=undefined)", 0)


async def test_nested_groups_off_sends_one_search(slapd: Slapd) -> None:
    before = len(slapd.searches())
    await ask_once(slapd, USER_GROUPS, "jdoe")
    assert len(searches_since(slapd, before, 1)) == 1


# --- not found, injection ---


@pytest.mark.parametrize("query", [USER_INFO, USER_MANAGER, USER_GROUPS], ids=lambda q: q.name)
@pytest.mark.parametrize("value", ["nobody", "nobody@corp.example"])
async def test_unknown_user_is_no_data(ldap: Ldap, query: Query[Any], value: str) -> None:
    assert await ask(ldap, query, value) == []


INJECTIONS = [
    "*",
    "*)(sAMAccountName=*",
    "*)(uid=*",
    "jdoe)(|(uid=*",
    "*))(|(objectClass=*",
    "\\2a",
    "j*",
    "*@*",
    "*)(mail=*@corp.example",
    "jdoe\x00",
]


@pytest.mark.parametrize("user_attribute", ["uid", "sAMAccountName"])
async def test_filter_injection_matches_nothing_on_the_server(slapd: Slapd, user_attribute: str) -> None:
    provider = make(slapd, user_attribute=user_attribute)
    await provider.open()
    before = len(slapd.searches())
    try:
        for value in INJECTIONS:  # raw values: the normalizer would refuse them, the provider must not need it
            for query in (USER_INFO, USER_MANAGER, USER_GROUPS):
                assert await ask(provider, query, value) == [], (query.name, value)
    finally:
        await provider.aclose()
    logged = searches_since(slapd, before, 3 * len(INJECTIONS))
    assert len(logged) == 3 * len(INJECTIONS)
    assert all(entries == 0 for _, entries in logged), [s for s in logged if s[1]]
    # What the server received for "*)(sAMAccountName=*": one equality assertion on a literal value.
    assert any(flt.endswith("=\\2A\\29\\28samaccountname=\\2A))") for flt, _ in logged), logged[:3]


async def test_the_same_strings_unescaped_would_match(slapd: Slapd) -> None:
    # The control for the test above: sent raw, these filters match people.
    conn = ldap3.Connection(slapd.url, slapd.bind_dn, slapd.bind_password, auto_bind=True, receive_timeout=2)
    try:
        assert conn.search(slapd.base_dn, "(&(objectClass=person)(uid=*)(sAMAccountName=*))")
        assert len(conn.entries) >= 4
    finally:
        conn.unbind()


# --- errors ---


async def test_wrong_password_is_an_auth_error_without_the_password(slapd: Slapd) -> None:
    with pytest.raises(ProviderAuthError) as caught:
        await ask_once(slapd, USER_INFO, "jdoe", bind_password=WRONG_PASSWORD)
    assert caught.value.message == f"bind failed for server {slapd.url}: invalidCredentials"
    assert_safe(caught.value)
    assert slapd.bind_dn not in caught.value.message


async def test_server_down_is_unavailable_and_fast(slapd: Slapd) -> None:
    url = dead_url()
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as caught:
        await ask_once(slapd, USER_INFO, "jdoe", servers=[url])
    assert time.monotonic() - started < 1.0
    assert caught.value.message == f"cannot connect to ldap server {url}"
    assert_safe(caught.value)


async def test_every_server_down_names_each(slapd: Slapd) -> None:
    first, second = dead_url(), dead_url()
    with pytest.raises(ProviderUnavailable) as caught:
        await ask_once(slapd, USER_GROUPS, "jdoe", servers=[first, second])
    assert first in caught.value.message and second in caught.value.message


async def test_failover_to_the_second_server(slapd: Slapd) -> None:
    provider = make(slapd, servers=[dead_url(), slapd.url])
    await provider.open()
    try:
        [answer] = await ask(provider, USER_INFO, "jdoe")
        assert answer.value.manager == "asmith"
        health = await provider.health()
        assert health.ok and health.detail == f"bound to {slapd.url}; base_dn readable"
    finally:
        await provider.aclose()


async def test_hung_server_is_a_timeout(slapd: Slapd) -> None:
    provider = make(slapd, receive_timeout_s=0.5)  # rounded up to 1 s: ldap3 wants whole seconds
    await provider.open()
    try:
        await ask(provider, USER_INFO, "jdoe")  # a pooled, bound connection
        slapd.pause()
        try:
            started = time.monotonic()
            with pytest.raises(ProviderTimeout) as caught:
                await ask(provider, USER_INFO, "jdoe")
            elapsed = time.monotonic() - started
        finally:
            slapd.resume()
    finally:
        await provider.aclose()
    assert 0.9 < elapsed < 1.9  # one receive timeout: a timed-out call is not retried
    assert caught.value.message == f"no reply from ldap server {slapd.url} within 1s"


async def test_hung_server_during_bind_is_a_timeout(slapd: Slapd) -> None:
    slapd.pause()
    try:
        with pytest.raises(ProviderTimeout):
            await ask_once(slapd, USER_INFO, "jdoe", receive_timeout_s=1)
    finally:
        slapd.resume()


async def test_missing_base_dn_is_a_bad_response(slapd: Slapd) -> None:
    with pytest.raises(BadResponse) as caught:
        await ask_once(slapd, USER_INFO, "jdoe", base_dn="ou=nowhere,dc=corp,dc=example")
    assert "does not exist" in caught.value.message


async def test_not_opened_is_unavailable(slapd: Slapd) -> None:
    with pytest.raises(ProviderUnavailable):
        await ask(make(slapd), USER_INFO, "jdoe")


# --- connections ---


async def test_connections_are_reused(slapd: Slapd, ldap: Ldap) -> None:
    before = binds(slapd)
    for _ in range(3):
        await ask(ldap, USER_INFO, "jdoe")
    assert binds(slapd) - before == 1


async def test_connections_the_server_dropped_are_replaced(tmp_path: Path) -> None:
    with running_slapd(tmp_path) as server:
        provider = make(server, max_concurrency=4)
        await provider.open()
        try:
            await asyncio.gather(*(ask(provider, USER_INFO, "jdoe") for _ in range(20)))
            assert binds(server) >= 2  # several pooled connections
            server.restart()  # every pooled connection is now dead
            [answer] = await ask(provider, USER_GROUPS, "jdoe")  # one retry, on a new connection
            assert answer.value == ["engineering", "Smith, Fans", "vpn-users"]
        finally:
            await provider.aclose()


async def test_concurrent_lookups_share_a_small_pool(slapd: Slapd) -> None:
    provider = make(slapd, max_concurrency=4)
    await provider.open()
    before = binds(slapd)
    try:
        names = ["jdoe", "asmith", "cboss", "mold"] * 10
        results = await asyncio.gather(*(ask(provider, USER_INFO, name) for name in names))
    finally:
        await provider.aclose()
    assert [r[0].value.username for r in results] == names
    assert 1 <= binds(slapd) - before <= 4


# --- TLS ---


@pytest.mark.parametrize("mode", ["starttls", "ldaps"])
async def test_tls_with_the_right_ca(slapd: Slapd, mode: str) -> None:
    url = slapd.ldaps_url if mode == "ldaps" else slapd.url
    [answer] = await ask_once(slapd, USER_INFO, "jdoe", servers=[url], tls=mode, ca_file=str(slapd.ca_file))
    assert answer.value.username == "jdoe"
    last_bind = re.findall(r"mech=SIMPLE bind_ssf=\d+ ssf=(\d+)", slapd.log())[-1]
    assert int(last_bind) >= 128  # slapd saw the bind on an encrypted connection


@pytest.mark.parametrize("mode", ["starttls", "ldaps"])
async def test_tls_with_an_untrusted_certificate_is_refused(slapd: Slapd, mode: str) -> None:
    url = slapd.ldaps_url if mode == "ldaps" else slapd.url
    other_ca = str(slapd.work_dir / "other-ca.crt")
    with pytest.raises(ProviderUnavailable) as caught:
        await ask_once(slapd, USER_INFO, "jdoe", servers=[url], tls=mode, ca_file=other_ca)
    assert caught.value.message == f"TLS with ldap server {url} failed (certificate or handshake)"


@pytest.fixture
def tls_hang() -> Iterator[str]:
    """A DC that accepts TCP and then says nothing: the TLS handshake never completes."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"ldaps://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


async def test_a_tls_handshake_that_never_completes_is_a_timeout(slapd: Slapd, tls_hang: str) -> None:
    with pytest.raises(ProviderTimeout) as caught:
        await ask_once(slapd, USER_INFO, "jdoe", servers=[tls_hang], tls="ldaps", ca_file=str(slapd.ca_file),
                       receive_timeout_s=1)  # fmt: skip
    assert caught.value.message == (
        f"ldap server {tls_hang} accepted the connection but did not complete the TLS handshake within 1s"
    )
    assert not caught.value.transient  # a hung DC costs one timeout, not three


async def test_a_hung_dc_fails_over_to_the_next(slapd: Slapd, tls_hang: str) -> None:
    servers = [tls_hang, slapd.ldaps_url]
    [answer] = await ask_once(slapd, USER_INFO, "jdoe", servers=servers, tls="ldaps", ca_file=str(slapd.ca_file),
                              receive_timeout_s=1)  # fmt: skip
    assert answer.value.username == "jdoe"


# --- NTLM (slapd has none: only the client side can be exercised) ---


def test_md4_is_available_for_ntlm() -> None:
    assert md4_available()
    client = NtlmClient(domain="CORP", user_name="svc", password=WRONG_PASSWORD)
    assert len(client.ntowf_v2()) == 16  # what an NTLM bind computes from the server's challenge


async def test_ntlm_bind_is_built_and_refused_cleanly_by_slapd(slapd: Slapd) -> None:
    with pytest.raises(ProviderAuthError) as caught:
        await ask_once(slapd, USER_INFO, "jdoe", authentication="NTLM", bind_user="CORP\\svc-positron")
    assert caught.value.message == f"bind failed for server {slapd.url}: authMethodNotSupported"
    assert_safe(caught.value)


# --- health ---


async def test_health_ok(ldap: Ldap, slapd: Slapd) -> None:
    health = await ldap.health()
    assert health.ok and health.detail == f"bound to {slapd.url}; base_dn readable"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("bad-password", "bind failed for server"),
        ("down", "cannot connect to ldap server"),
        ("no-base", "not found on"),
    ],
)
async def test_health_not_ok(slapd: Slapd, case: str, expected: str) -> None:
    cases: dict[str, dict[str, Any]] = {
        "bad-password": {"bind_password": WRONG_PASSWORD},
        "down": {"servers": [dead_url()]},
        "no-base": {"base_dn": "ou=nowhere,dc=corp,dc=example"},
    }
    health = await make(slapd, **cases[case]).health()  # also works before open()
    assert not health.ok and expected in health.detail
    assert_safe(health.detail)


# --- config ---


@pytest.mark.parametrize(
    "overrides",
    [
        {"servers": []},
        {"servers": ["http://127.0.0.1:389"]},
        {"servers": ["ldap://svc:hunter2@127.0.0.1:389"]},
        {"servers": ["ldap://127.0.0.1:389/dc=corp?uid"]},
        {"servers": ["ldaps://127.0.0.1:636"], "tls": "starttls"},
        {"tls": "ldaps"},
        {"base_dn": "not a dn"},
        {"user_attribute": "uid)(cn=*"},
        {"user_filter": "objectClass=person"},
        {"user_filter": "(objectClass=person))(|(cn=*)"},
        {"bind_password": ""},
        {"authentication": "NTLM"},
        {"ca_file": "/nonexistent/ca.pem"},
        {"receive_timeout_s": 0},
    ],
)
def test_config_is_validated(slapd: Slapd, overrides: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        make(slapd, **overrides)
    assert slapd.bind_password not in str(caught.value)  # checks are per field: other fields are not echoed


def test_password_from_env_and_never_in_repr(slapd: Slapd, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSITRON_TEST_LDAP_PW", slapd.bind_password)
    provider = make(slapd, bind_password={"env": "POSITRON_TEST_LDAP_PW"})
    assert provider.config.bind_password.get_secret_value() == slapd.bind_password
    assert_safe(repr(provider.config))
    assert_safe(provider.config.model_dump_json())


def test_registered_as_an_entry_point() -> None:
    [entry] = [e for e in entry_points(group="positron.providers") if e.name == "ldap"]
    assert entry.load() is Ldap
    assert Ldap.supported_queries() == ["USER_GROUPS", "USER_INFO", "USER_MANAGER"]


# --- value shapes, DN parsing ---


def test_attribute_values_as_lists_or_scalars() -> None:
    entry = Entry("uid=x", {"a": ["one", "two"], "b": "scalar", "c": b"bytes", "d": 514, "e": [], "f": ["  "]})
    assert entry.values("a") == ["one", "two"] and entry.first("a") == "one"
    assert entry.first("b") == "scalar" and entry.first("c") == "bytes" and entry.first("d") == "514"
    assert entry.first("e") is None and entry.first("f") is None and entry.first("missing") is None


@pytest.mark.parametrize(
    ("dn", "cn"),
    [
        ("CN=VPN Users,OU=Groups,DC=corp,DC=example", "VPN Users"),
        ("cn=Smith\\, Fans,ou=groups,dc=corp", "Smith, Fans"),
        ("CN=Ren\\C3\\A9 \\2B Co,OU=Groups", "René + Co"),
        ("OU=Groups,DC=corp", None),
        ("", None),
    ],
)
def test_group_name_from_dn(dn: str, cn: str | None) -> None:
    assert rdn_value(dn) == cn


@pytest.fixture
def wrong_host_tls_server(slapd: Slapd) -> Iterator[str]:
    """A TLS listener whose certificate is signed by the trusted test CA but names wrong.example."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(slapd.work_dir / "wrong-host.crt", slapd.work_dir / "wrong-host.key")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)

    def serve() -> None:
        try:
            raw, _ = listener.accept()
            with context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False) as conn:
                conn.settimeout(5)
                conn.do_handshake()
                conn.recv(1)  # until the client, having seen the certificate, hangs up
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"ldaps://127.0.0.1:{listener.getsockname()[1]}"
    thread.join(timeout=10)
    listener.close()


# ldap3 drops the wrapped socket when the host name check fails (the garbage collector closes it): expected here.
@pytest.mark.filterwarnings("ignore:unclosed <ssl.SSLSocket:ResourceWarning")
async def test_tls_certificate_for_another_host_is_refused(slapd: Slapd, wrong_host_tls_server: str) -> None:
    url = wrong_host_tls_server
    with pytest.raises(ProviderUnavailable) as caught:
        await ask_once(slapd, USER_INFO, "jdoe", servers=[url], tls="ldaps", ca_file=str(slapd.ca_file))
    assert caught.value.message == f"TLS with ldap server {url} failed (certificate or handshake)"
    del caught
    gc.collect()  # now, under this test's warning filter
