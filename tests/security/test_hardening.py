"""HTTP hardening: security headers, request ids, body and value limits, CORS off unless configured, and no
tracebacks or exception texts in responses."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from positron.api.app import create_app
from tests.security.support import auth, broker, client, demo_providers

QUERY = "/v1/queries/IP_TO_HOSTNAME"


async def test_every_response_carries_the_security_headers_and_a_request_id() -> None:
    async with client(demo_providers()) as c:
        answer = await c.post(QUERY, json={"value": "10.20.0.42"}, headers=auth("root"))
        unauthenticated = await c.get("/v1/queries")
        docs = await c.get("/docs")
        asset = await c.get("/static/swagger/swagger-ui.css")
    for r in (answer, unauthenticated, docs, asset):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert len(r.headers["x-request-id"]) == 32
    assert answer.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert answer.headers["cache-control"] == "no-store"
    assert "script-src 'self' 'unsafe-inline'" in docs.headers["content-security-policy"]
    assert "no-store" not in asset.headers.get("cache-control", "")
    assert answer.headers["x-request-id"] != unauthenticated.headers["x-request-id"]


@pytest.mark.parametrize(
    ("given", "kept"),
    [("alert-4711.splunk:9", True), ("x" * 128, True), ("x" * 129, False), ("has space", False), ("a\tb", False)],
)
async def test_a_plain_request_id_is_kept_anything_else_replaced(given: str, kept: bool) -> None:
    async with client({}) as c:
        r = await c.get("/health", headers={"X-Request-ID": given})
    assert (r.headers["x-request-id"] == given) is kept
    assert len(r.headers["x-request-id"]) == (len(given) if kept else 32)


async def test_bodies_over_the_limit_are_refused_with_413() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"value": "10.20.0.42", "pad": "'
        for _ in range(10):
            yield b"x" * 1024
        yield b'"}'

    async with client(demo_providers(), security={"max_body_bytes": 4096, "audit": {"destination": None}}) as c:
        declared = await c.post(QUERY, content=b"{" + b" " * 5000 + b"}", headers=auth("root"))
        streamed = await c.post(QUERY, content=chunks(), headers={**auth("root"), "Content-Type": "application/json"})
        variant = await c.post("/v1/queries/ip_to_hostname", content=chunks(), headers=auth("root"))
        small = await c.post(QUERY, json={"value": "10.20.0.42"}, headers=auth("root"))
    for r in (declared, streamed, variant):
        assert r.status_code == 413, r.text
        assert r.json()["error"] == {"code": "too_large", "message": "the request body is larger than 4096 bytes"}
    assert "content-length" not in streamed.request.headers
    assert small.status_code == 200


async def test_values_longer_than_512_characters_are_refused() -> None:
    async with client(demo_providers()) as c:
        r = await c.post(QUERY, json={"value": "1" * 513}, headers=auth("root"))
    assert r.status_code == 422 and "at most 512 characters" in r.json()["error"]["message"]


async def test_cors_is_off_unless_origins_are_configured() -> None:
    preflight = {"Origin": "https://soar.example", "Access-Control-Request-Method": "POST"}
    async with client({}) as c:
        closed = await c.options(QUERY, headers=preflight)
        closed_get = await c.get("/health", headers={"Origin": "https://soar.example"})
    security = {"cors_origins": ["https://soar.example"], "audit": {"destination": None}}
    async with client({}, security=security) as c:
        opened = await c.options(QUERY, headers=preflight)
        other = await c.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in closed.headers and closed.status_code == 405
    assert "access-control-allow-origin" not in closed_get.headers
    assert opened.status_code == 200 and opened.headers["access-control-allow-origin"] == "https://soar.example"
    assert "access-control-allow-origin" not in other.headers


async def test_an_unexpected_error_is_a_500_with_the_request_id_and_nothing_else(
    caplog: pytest.LogCaptureFixture,
) -> None:
    b = broker({})
    app = create_app(b)

    async def boom() -> None:
        raise RuntimeError("while talking to ldap://svc:Hunter2-hunter2@dc1 it broke")

    app.add_api_route("/boom", boom)
    caplog.set_level(logging.DEBUG)
    await b.start()
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://positron") as c:
            r = await c.get("/boom", headers={"X-Request-ID": "req-42"})
    finally:
        await b.close()
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal_error", "message": "internal error (request id req-42)"}}
    assert "Hunter2" not in r.text and "Traceback" not in r.text
    assert "unhandled RuntimeError on GET /boom (request req-42)" in caplog.text
