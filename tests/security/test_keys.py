"""API keys: random, shown once, stored as hashes (config or keys file), optional expiry; every route but the
public ones needs one; a bad key is a 401 that says only "invalid"."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from positron.api.app import create_app
from positron.cli.commands import main
from positron.config import parse_settings
from positron.errors import AuthenticationFailed, ConfigError
from positron.security.auth import INVALID, KeyStore, create_key, generate_key, hash_key, parse_expiry, read_keys_file
from tests.security.support import auth, broker, client, demo_providers, key_of, serving
from tests.support.apps import registry

PUBLIC = {"/health", "/ready", "/docs", "/openapi.json", "/metrics"}  # /metrics: metrics.public (issue 5)


def test_keys_are_random_prefixed_and_stored_only_as_sha256() -> None:
    keys = {generate_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(re.fullmatch(r"pos_[A-Za-z0-9_-]{43}", k) for k in keys)  # 32 random bytes
    new = create_key("alice", ["soc-analysts"])
    assert new.entry.key_hash == hash_key(new.key) and new.key not in new.entry.model_dump_json()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", new.entry.key_hash)


def test_a_store_accepts_only_valid_unexpired_keys_and_says_only_invalid() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    fresh = create_key("alice", ["a"], now + timedelta(days=1))
    stale = create_key("bob", [], now - timedelta(seconds=1))
    store = KeyStore.of([fresh.entry, stale.entry])
    assert store.authenticate(fresh.key, now).name == "alice"
    assert store.authenticate(fresh.key, now).groups == ("a",)
    for token in (stale.key, fresh.key + "x", fresh.key[:-1], "", None, "x" * 10_000):
        with pytest.raises(AuthenticationFailed) as caught:
            store.authenticate(token, now)
        assert caught.value.message == INVALID
    with pytest.raises(ConfigError, match="same key"):
        KeyStore.of([fresh.entry, fresh.entry])


def test_expiry_takes_durations_and_times() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_expiry("90d", now) == now + timedelta(days=90)
    assert parse_expiry("12h", now) == now + timedelta(hours=12)
    assert parse_expiry("2026-03-01T00:00:00Z") == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_expiry("2026-03-01") == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_expiry(None) is None
    with pytest.raises(ValueError, match="90d"):
        parse_expiry("soon")


def test_keys_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "keys.jsonl"
    good = json.dumps({"principal": "a", "key_hash": "sha256:" + "0" * 64})
    path.write_text(f"# comment\n\n{good}\n{{not json\n")
    with pytest.raises(ConfigError, match=r"keys.jsonl:4: not a JSON object"):
        read_keys_file(path)
    path.write_text(json.dumps({"principal": "a", "key_hash": "md5:x"}) + "\n")
    with pytest.raises(ConfigError, match=r"keys.jsonl:1: key_hash: String should match pattern"):
        read_keys_file(path)


async def test_the_printed_line_of_keys_create_makes_a_working_key(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["keys", "create", "--principal", "erin", "--groups", "soc-analysts,x"])
    assert result.exit_code == 0, result.output
    key = re.search(r"(pos_[A-Za-z0-9_-]{43})", result.output)
    assert key is not None
    line = next(x for x in result.output.splitlines() if x.startswith("{"))
    assert key[1] not in line and json.loads(line)["groups"] == ["soc-analysts", "x"]
    keys_file = tmp_path / "keys.jsonl"
    keys_file.write_text(line + "\n")
    async with client(demo_providers(), security={"keys_file": str(keys_file), "audit": {"destination": None}}) as c:
        ok = await c.post("/v1/queries/IP_TO_HOSTNAME", json={"value": "10.20.0.42"}, headers=_bearer(key[1]))
        denied = await c.post("/v1/queries/USER_INFO", json={"value": "jdoe"}, headers=_bearer(key[1]))
    assert ok.status_code == 200 and ok.json()["answer"]["value"] == "ws-042.corp.example"
    assert denied.status_code == 403


def test_keys_create_refuses_a_bad_expiry() -> None:
    result = CliRunner().invoke(main, ["keys", "create", "--principal", "erin", "--expires", "someday"])
    assert result.exit_code == 2 and "expected a duration (90d, 12h, 30m) or an RFC 3339 time" in result.output


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_missing_invalid_and_expired_keys_get_the_same_401() -> None:
    expired = create_key("old", ["admins"], datetime.now(UTC) - timedelta(minutes=1))
    hashed = create_key("hashed", ["admins"])
    entries = [
        {
            "principal": "old",
            "key_hash": expired.entry.key_hash,
            "groups": ["admins"],
            "expires": "2020-01-01T00:00:00Z",
        },
        {"principal": "hashed", "key_hash": hashed.entry.key_hash, "groups": ["admins"]},
    ]
    async with client(demo_providers(), api_keys=entries) as c:
        answers = [
            await c.get("/v1/queries", headers=headers)
            for headers in ({}, _bearer("nope"), _bearer(expired.key), {"Authorization": "Basic Zm9vOmJhcg=="})
        ]
        ok = await c.get("/v1/queries", headers=_bearer(hashed.key))
    assert ok.status_code == 200
    for r in answers:
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json() == {"error": {"code": "unauthenticated", "message": "invalid or missing API key"}}


def test_a_config_entry_has_exactly_one_of_key_and_key_hash() -> None:
    for entry in ({"principal": "a"}, {"principal": "a", "key": "k" * 20, "key_hash": "sha256:" + "0" * 64}):
        with pytest.raises(ConfigError, match=r"api_keys.0: Value error, give exactly one of key"):
            parse_settings({"api_keys": [entry]}, registry())


@pytest.mark.parametrize(
    ("providers", "key"),
    [
        ({"vt": {"type": "virustotal", "api_key": "changeme"}}, "providers.vt.api_key"),
        ({"pd": {"type": "pagerduty", "api_key": "CHANGEME "}}, "providers.pd.api_key"),
        ({"s": {"type": "splunk", "host": "h", "username": "u", "password": "password"}}, "providers.s.password"),
    ],
)
def test_placeholder_provider_secrets_are_refused_outside_the_demo(providers: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{re.escape(key)}: is a placeholder"):
        parse_settings({"providers": providers}, registry())
    assert parse_settings({"providers": providers, "demo": True}, registry()).demo


async def test_every_route_but_the_public_ones_needs_a_key() -> None:
    b = broker({})
    operations = [(m.upper(), path) for path, item in create_app(b).openapi()["paths"].items() for m in item]
    assert {p for _, p in operations} >= {"/v1/queries", "/v1/providers", "/v1/admin/reload", "/v1/admin/providers"}
    operations.append(("POST", "/v1/queries/ip_to_hostname/"))  # the variant-name route is not in the spec
    async with serving(b) as http:
        for method, path in operations:
            if path in PUBLIC:
                continue
            r = await http.request(method, re.sub(r"\{[^}]+\}", "IP_TO_HOSTNAME", path), json={"value": "10.1.2.3"})
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.headers["www-authenticate"] == "Bearer"


async def test_private_docs_need_a_key() -> None:
    b = broker({}, server={"docs_public": False})
    async with serving(b) as c:
        anonymous = [(await c.get(p)).status_code for p in ("/docs", "/openapi.json")]
        keyed = [(await c.get(p, headers=auth("nobody"))).status_code for p in ("/docs", "/openapi.json")]
        health = await c.get("/health")
    assert anonymous == [401, 401] and keyed == [200, 200] and health.status_code == 200
    async with client({}) as c:
        assert (await c.get("/openapi.json")).status_code == 200  # public by default
    assert key_of("nobody") not in str(b.settings)
