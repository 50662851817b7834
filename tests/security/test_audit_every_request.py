"""Every request that reaches the app leaves one audit line whose decision agrees with its status: refusals
before any lookup (an oversized value, an extra field, an unknown query, a bad batch item, /metrics without a key)
included. Batch items are authorized before they are validated, as single queries are. The client address is the
peer's, or X-Forwarded-For's behind a configured trusted proxy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from positron.api.app import create_app
from tests.security.support import auth, broker, demo_providers, serving

QUERY = "/v1/queries/IP_TO_HOSTNAME"


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def audited(tmp_path: Path, **extra: Any) -> tuple[Path, Any]:
    log = tmp_path / "audit.jsonl"
    security = {"audit": {"destination": str(log)}, **extra.pop("security", {})}
    return log, broker(demo_providers(), security=security, **extra)


async def test_refusals_before_any_lookup_each_leave_exactly_one_line(tmp_path: Path) -> None:
    log, b = audited(tmp_path)
    async with serving(b) as c:
        responses = [
            await c.post(QUERY, json={"value": "1" * 513}, headers=auth("alice")),
            await c.post(QUERY, json={"value": "10.20.0.42", "color": "red"}, headers=auth("alice")),
            await c.post("/v1/queries/NO_SUCH_QUERY", json={"value": "x"}, headers=auth("alice")),
            await c.post(QUERY, json={"value": "10.20.0.42", "no_cache": True}, headers=auth("alice")),
            await c.post(QUERY, content=b"value=10.20.0.42", headers={**auth("alice"), "Content-Type": "text/plain"}),
        ]
    assert [r.status_code for r in responses] == [422, 422, 404, 403, 415]
    oversized, extra, unknown, no_cache, not_json = lines(log)
    for line, r in zip(lines(log), responses, strict=True):
        assert line["status"] == r.status_code and line["request_id"] == r.headers["x-request-id"]
        assert line["principal"] == "alice" and line["client"] == "127.0.0.1"
    assert (oversized["event"], oversized["query"], oversized["decision"]) == ("request", "IP_TO_HOSTNAME", "allowed")
    assert oversized["rule"] == "p, soc-analysts, IP_TO_*, run, allow"
    assert (extra["decision"], unknown["decision"], not_json["decision"]) == ("allowed", "invalid", "invalid")
    assert unknown["path"] == "/v1/queries/NO_SUCH_QUERY"
    # a refused no_cache is a denial, with the rule that refused it (alice is an analyst, not a responder)
    assert (no_cache["event"], no_cache["decision"], no_cache["error"]) == ("query", "denied", "forbidden")
    assert no_cache["rule"] == "default deny"


async def test_a_denied_caller_learns_403_before_anything_about_its_body(tmp_path: Path) -> None:
    log, b = audited(tmp_path)
    async with serving(b) as c:
        canonical = await c.post("/v1/queries/USER_INFO", json={"value": "x" * 600, "bad": 1}, headers=auth("alice"))
        variant = await c.post("/v1/queries/user_info", json={"value": "x" * 600, "bad": 1}, headers=auth("alice"))
        batch = await c.post(
            "/v1/batch",
            json={"items": [{"query": "USER_INFO", "value": "x" * 600, "bad": 1}, {"query": "USER_INFO", "v": 1}]},
            headers=auth("alice"),
        )
    assert canonical.status_code == variant.status_code == 403
    assert [(x["status"], x["error"]["code"]) for x in batch.json()["results"]] == [(403, "forbidden")] * 2
    logged = lines(log)
    assert [(x["status"], x["decision"]) for x in logged] == [(403, "denied")] * 4
    assert all(x["query"] == "USER_INFO" for x in logged)


async def test_every_batch_item_leaves_a_line_and_bad_items_fail_alone(tmp_path: Path) -> None:
    log, b = audited(tmp_path)
    items: list[Any] = [
        {"query": "IP_TO_HOSTNAME", "value": "10.20.0.42"},
        {"query": "NO_SUCH", "value": "x"},
        {"query": "USER_INFO", "value": "jdoe"},  # alice may not
        {"query": "IP_TO_HOSTNAME", "value": "not-an-ip"},
        {"query": "IP_TO_HOSTNAME", "value": " 10.20.0.42 "},  # the same lookup as item 0: run once
    ]
    async with serving(b) as c:
        r = await c.post("/v1/batch", json={"items": items}, headers={**auth("alice"), "X-Request-ID": "batch-1"})
    assert r.status_code == 200
    assert [x["status"] for x in r.json()["results"]] == [200, 404, 403, 422, 200]
    logged = lines(log)
    assert all(x["request_id"] == "batch-1" and x["event"] == "query" for x in logged)
    assert sorted((x["status"], x["decision"]) for x in logged) == [
        (200, "allowed"),  # items 0 and 4: one lookup, one line
        (403, "denied"),
        (404, "invalid"),
        (422, "allowed"),  # authorized, then the value was invalid
    ]


async def test_a_malformed_batch_item_fails_the_request_with_one_line(tmp_path: Path) -> None:
    log, b = audited(tmp_path)
    items: list[Any] = [{"query": "IP_TO_HOSTNAME", "value": "10.20.0.42"}, "not an object"]
    async with serving(b) as c:
        r = await c.post("/v1/batch", json={"items": items}, headers=auth("alice"))
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("items.1: ")
    [line] = lines(log)
    assert (line["event"], line["path"], line["status"], line["decision"]) == ("request", "/v1/batch", 422, "invalid")


async def test_metrics_refused_for_a_missing_key_is_audited(tmp_path: Path) -> None:
    log, b = audited(tmp_path, metrics={"public": False})
    async with serving(b) as c:
        refused = await c.get("/metrics")
        allowed = await c.get("/metrics", headers=auth("nobody"))
        probe = await c.get("/health")
    assert (refused.status_code, allowed.status_code, probe.status_code) == (401, 200, 200)
    unauthenticated, scraped = lines(log)  # probes are not audited
    assert (unauthenticated["path"], unauthenticated["decision"], unauthenticated["status"]) == (
        "/metrics",
        "unauthenticated",
        401,
    )
    assert (scraped["event"], scraped["principal"], scraped["decision"], scraped["status"]) == (
        "request",
        "nobody",
        "allowed",
        200,
    )


async def test_the_client_address_comes_from_x_forwarded_for_only_behind_a_trusted_proxy(tmp_path: Path) -> None:
    spoofed = {**auth("alice"), "X-Forwarded-For": "203.0.113.9, 198.51.100.7"}
    log, b = audited(tmp_path, server={"trusted_proxies": ["10.0.0.0/8"]})
    async with serving(b) as _:
        app = create_app(b)
        for peer in ("10.1.1.1", "192.0.2.50"):
            transport = httpx.ASGITransport(app=app, client=(peer, 4711))
            async with httpx.AsyncClient(transport=transport, base_url="http://positron") as c:
                await c.post(QUERY, json={"value": "10.20.0.42"}, headers=spoofed)
    behind_proxy, direct = lines(log)
    assert behind_proxy["client"] == "198.51.100.7"  # the right-most hop the trusted proxy appended
    assert direct["client"] == "192.0.2.50"  # an untrusted peer cannot choose its address
