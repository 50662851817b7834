"""The audit log: one JSON line per request, allowed or denied, with the decision's rule, the providers and the
cache hits; values in clear or as a keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from positron.broker import Broker
from positron.config import parse_settings
from tests.security.support import api_keys, auth, broker, demo_providers, serving
from tests.support.apps import registry


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_allowed_denied_and_unauthenticated_requests_each_write_one_correct_line(tmp_path: Path) -> None:
    log = tmp_path / "audit" / "positron-audit.jsonl"
    b = broker(demo_providers(), security={"audit": {"destination": str(log)}})
    async with serving(b) as c:
        for _ in range(2):  # the second is answered from the cache
            ok = await c.post(
                "/v1/queries/ip_to_hostname",
                json={"value": "10.20.0.42"},
                headers={**auth("alice"), "X-Request-ID": "req-1"},
            )
        denied = await c.post("/v1/queries/USER_INFO", json={"value": "CORP\\jdoe"}, headers=auth("alice"))
        invalid = await c.post("/v1/queries/IP_TO_HOSTNAME", json={"value": "10.1.2"}, headers=auth("alice"))
        nokey = await c.post("/v1/queries/IP_TO_HOSTNAME", json={"value": "10.1.2.3"}, headers=auth("mallory"))
        admin = await c.post("/v1/admin/reload", headers=auth("alice"))
    assert [ok.status_code, denied.status_code, invalid.status_code, nokey.status_code, admin.status_code] == [
        200,
        403,
        422,
        401,
        403,
    ]
    first, second, refused, bad, unauthenticated, admin_refused = lines(log)
    assert first.pop("time").endswith("Z") and first.pop("took_ms") >= 0
    assert first == {
        "event": "query",
        "request_id": "req-1",
        "client": "127.0.0.1",
        "principal": "alice",
        "groups": ["soc-analysts"],
        "query": "IP_TO_HOSTNAME",
        "decision": "allowed",
        "rule": "p, soc-analysts, IP_TO_*, run, allow",
        "status": 200,
        "providers": [
            {"name": "inventory", "status": "ok", "cached": False},
            {"name": "dhcp", "status": "ok", "cached": False},
        ],
        "cache_hits": 0,
        "value": "10.20.0.42",
    }
    assert second["cache_hits"] == 2 and all(p["cached"] for p in second["providers"])
    assert second["request_id"] == "req-1"
    assert refused | {"time": 0, "took_ms": 0, "request_id": 0} == {
        "time": 0,
        "took_ms": 0,
        "request_id": 0,
        "client": "127.0.0.1",
        "event": "query",
        "principal": "alice",
        "groups": ["soc-analysts"],
        "query": "USER_INFO",
        "decision": "denied",
        "rule": "default deny",
        "status": 403,
        "error": "forbidden",
        "value": "CORP\\jdoe",  # denied before normalization: the value as given
    }
    assert refused["request_id"] == denied.headers["x-request-id"] and len(refused["request_id"]) == 32
    assert (bad["decision"], bad["status"], bad["error"], bad["value"]) == ("allowed", 422, "invalid_input", "10.1.2")
    assert "providers" not in bad
    assert unauthenticated | {"time": 0, "request_id": 0} == {
        "time": 0,
        "request_id": 0,
        "client": "127.0.0.1",
        "event": "auth",
        "path": "/v1/queries/IP_TO_HOSTNAME",
        "decision": "unauthenticated",
        "status": 401,
    }
    assert admin_refused["event"] == "admin" and admin_refused["action"] == "reload"
    assert (admin_refused["decision"], admin_refused["status"]) == ("denied", 403)
    assert "key-of-" not in log.read_text()  # never a key


async def test_skipped_instances_are_logged_with_their_reason(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    providers = {**demo_providers(), "virustotal": {"type": "fake", "answer": "harmless", "egress": "external"}}
    b = broker(providers, security={"audit": {"destination": str(log)}})
    async with serving(b) as c:
        await c.post("/v1/queries/HASH_REPUTATION", json={"value": "0" * 32}, headers=auth("alice"))
        await c.post("/v1/queries/IP_TO_HOSTNAME", json={"value": "10.20.0.42"}, headers=auth("root"))
    reputation, hostname = lines(log)
    assert {"name": "virustotal", "status": "skipped", "cached": False, "reason": "denied"} in reputation["providers"]
    assert {
        "name": "virustotal",
        "status": "skipped",
        "cached": False,
        "reason": ("egress: internal value not sent to an external service"),
    } in hostname["providers"]


async def test_values_can_be_logged_as_a_keyed_hash(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    hash_key = "audit-hmac-key-0123456789abcdef"
    security = {"audit": {"destination": str(log), "hash_values": True, "hash_key": hash_key}}
    b = broker(demo_providers(), security=security)
    async with serving(b) as c:
        await c.post("/v1/queries/IP_TO_HOSTNAME", json={"value": "10.20.0.42"}, headers=auth("root"))
    [line] = lines(log)
    expected = hmac.new(hash_key.encode(), b"10.20.0.42", hashlib.sha256).hexdigest()
    assert "value" not in line and line["value_hash"] == f"hmac-sha256:{expected}"
    assert "10.20.0.42" not in log.read_text() and hash_key not in log.read_text()


async def test_stdout_is_the_default_destination(capsys: pytest.CaptureFixture[str]) -> None:
    config = {"api_keys": api_keys(), "providers": demo_providers()}  # no security section
    b = Broker(parse_settings(config, registry()), registry())
    async with serving(b) as c:
        await c.post("/v1/queries/IP_TO_HOSTNAME", json={"value": "10.20.0.42"}, headers=auth("nobody"))
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (line["principal"], line["decision"], line["status"]) == ("nobody", "denied", 403)
    assert len(line["time"]) == len("2026-01-05T09:14:03.120Z")
