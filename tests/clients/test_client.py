"""The sync client against a real Positron server (uvicorn on a free port, the demo's sample data)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from positron_client import (
    AuthenticationError,
    ConfigurationError,
    InvalidInput,
    OnCall,
    PermissionDenied,
    Person,
    Positron,
    Reputation,
    UnknownQuery,
    UserInfo,
)

from tests.clients.conftest import Server


@pytest.fixture
def positron(server: Server) -> Positron:
    return Positron(server.url, server.key)


def test_ip_to_hostname_is_typed_merged_and_says_what_each_provider_did(positron: Positron) -> None:
    with positron:
        now = positron.ip_to_hostname("10.20.0.42")
        then = positron.ip_to_hostname("10.20.0.42", at=datetime(2026, 11, 20, 12, tzinfo=UTC))
    assert now.query == "IP_TO_HOSTNAME" and now.value == "10.20.0.42" and now.at is None
    assert now.best == "ws-042.corp.example"
    assert now.answer is not None and {s.provider for s in now.answer.sources} == {"inventory", "dhcp"}
    dhcp = next(s for s in now.answer.sources if s.provider == "dhcp")
    assert dhcp.value == "ws-042" and dhcp.observed_at is not None and dhcp.observed_at.tzinfo is not None
    assert {(p.name, p.status) for p in now.providers} == {("inventory", "ok"), ("dhcp", "ok")}
    assert all(p.ok and p.elapsed_ms >= 0 for p in now.providers)
    assert then.at == datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert [a.value for a in then.answers][:2] == ["laptop-7", "ws-042.corp.example"]
    assert then.raw["answers"][0]["value"] == "laptop-7"  # the JSON as received, for tools that pass it on


def test_every_convenience_method_returns_its_typed_answer(positron: Positron) -> None:
    with positron:
        assert positron.hostname_to_ip("ws-042.corp.example").best == "10.20.0.42"
        assert positron.ip_to_mac("10.20.0.42", at="2026-11-21T10:00:00Z").best == "00:16:3e:12:34:56"
        info = positron.user_info("CORP\\jdoe").best
        manager = positron.user_manager("jdoe")
        groups = positron.user_groups("jdoe").best
        verdict = positron.hash_reputation("44D88612FEA8A8F36DE82E1278ABB02F").best
        ip_verdict = positron.ip_reputation("203.0.113.7").best
        domain_verdict = positron.domain_reputation("example.com").best
        oncall = positron.team_oncall("soc")
    assert isinstance(info, UserInfo)
    assert (info.username, info.display_name, info.manager) == ("jdoe", "Jane Doe", "asmith")
    assert info.enabled is True
    assert manager.best == Person("asmith", "Alice Smith", "alice.smith@corp.example", "SOC Manager")
    assert groups == ["SOC Analysts", "VPN Users"]
    assert isinstance(verdict, Reputation) and verdict.label == "eicar-test-file" and verdict.total >= 1
    assert ip_verdict == Reputation("suspicious", suspicious=1, total=1, label="scanner (documentation range)")
    assert domain_verdict is not None and domain_verdict.verdict == "harmless"
    assert oncall.best is None and oncall.answers == [] and oncall.providers == []  # no on-call source in the demo


def test_generic_query_canonicalizes_names_and_parses_standard_values(positron: Positron) -> None:
    with positron:
        manager = positron.query("user-manager", "bwhite", no_cache=True)
        only_inventory = positron.query("IP_TO_HOSTNAME", "10.20.0.42", providers=["inventory"])
    assert manager.query == "USER_MANAGER"
    assert isinstance(manager.best, Person) and manager.best.username == "ekahn"
    assert [a.value.username for a in manager.answers] == ["ekahn", "dgreen"]  # HR and inventory disagree
    assert [p.name for p in only_inventory.providers] == ["inventory"]


def test_catalog_and_providers(positron: Positron) -> None:
    with positron:
        queries = {q.name: q for q in positron.queries()}
        one = positron.query_info("ip_to_hostname")
        providers = {p.name: p for p in positron.providers()}
    assert set(queries) >= {"IP_TO_HOSTNAME", "USER_MANAGER", "HASH_REPUTATION", "TEAM_ONCALL"}
    assert queries["IP_TO_HOSTNAME"].accepts_at and not queries["USER_INFO"].accepts_at
    assert set(queries["IP_TO_HOSTNAME"].providers) == {"inventory", "dhcp"}
    assert one == queries["IP_TO_HOSTNAME"]
    assert set(providers) == {"inventory", "hr_export", "local_iocs", "dhcp"}
    assert providers["dhcp"].type == "dhcp_leases" and providers["dhcp"].healthy
    assert "IP_TO_MAC" in providers["dhcp"].queries


def test_errors_are_typed_and_carry_the_servers_message(server: Server, positron: Positron) -> None:
    with positron, Positron(server.url, "wrong-key-0123456789abcdef0123456789") as stranger:
        with pytest.raises(InvalidInput) as bad_value:
            positron.ip_to_hostname("not-an-ip")
        with pytest.raises(InvalidInput) as bad_field:
            positron.query("USER_INFO", "jdoe", at="2026-11-20T12:00:00Z")
        with pytest.raises(UnknownQuery) as unknown:
            positron.query("NO_SUCH_QUERY", "x")
        with pytest.raises(AuthenticationError) as unauthenticated:
            stranger.ip_to_hostname("10.20.0.42")
    assert bad_value.value.status_code == 422 and bad_value.value.code == "invalid_input"
    assert "expected an IPv4 or IPv6 address" in bad_value.value.message
    assert "does not take 'at'" in bad_field.value.message and bad_field.value.details
    assert unknown.value.status_code == 404 and "known queries: IP_TO_HOSTNAME" in unknown.value.message
    assert unauthenticated.value.status_code == 401 and unauthenticated.value.code == "unauthenticated"
    assert str(unauthenticated.value) == "invalid or missing API key (HTTP 401 unauthenticated)"
    assert "wrong-key" not in repr(unauthenticated.value) + str(unauthenticated.value.__cause__)


def test_a_key_without_the_right_group_gets_permission_denied(server: Server) -> None:
    with Positron(server.url, server.nobody_key) as positron, pytest.raises(PermissionDenied) as denied:
        positron.ip_to_hostname("10.20.0.42")
    assert denied.value.status_code == 403 and "IP_TO_HOSTNAME" in denied.value.message


def test_url_and_key_default_to_the_environment_and_never_show(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSITRON_URL", server.url + "/")
    monkeypatch.setenv("POSITRON_API_KEY", server.key)
    with Positron() as positron:
        result = positron.ip_to_hostname("10.20.0.17")
        assert positron.url == server.url
        assert server.key not in repr(positron)
    assert result.best == "ws-017.corp.example"


@pytest.mark.parametrize(
    ("url", "key", "expected"),
    [
        (None, "k", "no Positron URL"),
        ("http://127.0.0.1:1", None, "no API key"),
        ("127.0.0.1:8080", "k", "expected an http\\(s\\) URL"),
        ("ftp://positron.example", "k", "expected an http\\(s\\) URL"),
    ],
)
def test_missing_or_bad_settings_fail_at_construction(
    url: str | None, key: str | None, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POSITRON_URL", raising=False)
    monkeypatch.delenv("POSITRON_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match=expected):
        Positron(url, key)


def test_oncall_values_parse_times() -> None:
    from positron_client._models import parse_oncall

    oncall = parse_oncall({"user": "Ann", "escalation_level": 2, "start": "2026-11-20T08:00:00Z", "end": None})
    assert oncall == OnCall("Ann", None, 2, datetime(2026, 11, 20, 8, tzinfo=UTC), None)
