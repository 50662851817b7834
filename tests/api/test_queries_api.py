"""The REST API through the ASGI app, with inline fake providers."""

from __future__ import annotations

import pytest

from tests.support.apps import AUTH, client

FOUR = {
    "dhcp": {"type": "fake", "answer": "WS-042", "delay_s": 0.01},
    "inventory": {"type": "fake", "answer": "ws-042.corp.example", "weight": 0.8},
    "stuck": {"type": "fake", "answer": "x", "hang": True},
    "broken": {"type": "fake", "fail": "BadResponse"},
}


async def test_query_returns_merged_answer_with_provenance_and_statuses() -> None:
    async with client(FOUR, engine={"deadline_s": 0.3}) as c:
        r = await c.post("/v1/queries/IP_TO_HOSTNAME", json={"value": "10.20.0.42"}, headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert body["query"] == "IP_TO_HOSTNAME" and body["value"] == "10.20.0.42"
    assert body["answer"]["value"] == "ws-042.corp.example"
    assert {s["provider"] for s in body["answer"]["sources"]} == {"dhcp", "inventory"}
    assert {p["name"]: p["status"] for p in body["providers"]} == {
        "dhcp": "ok",
        "inventory": "ok",
        "stuck": "timeout",
        "broken": "error",
    }
    assert body["conflict"] is False and body["took_ms"] < 400


@pytest.mark.parametrize("path", ["ip_to_hostname", "%49P_TO_HOSTNAME", "IP_TO_HOSTNAME/", "Ip-To-Hostname"])
async def test_variant_query_names_reach_the_same_query(path: str) -> None:
    async with client({"inv": {"type": "fake", "answer": "ws-1"}}) as c:
        r = await c.post(f"/v1/queries/{path}", json={"value": "10.1.2.3"}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["query"] == "IP_TO_HOSTNAME"


async def test_unknown_query_is_404_and_lists_known_ones() -> None:
    async with client({}) as c:
        r = await c.post("/v1/queries/NOPE", json={"value": "x"}, headers=AUTH)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "unknown_query"
    assert "IP_TO_HOSTNAME" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "payload", "needle"),
    [
        ("IP_TO_HOSTNAME", {"value": "10.1.2"}, "expected an IPv4 or IPv6 address"),
        ("ip_to_hostname", {"value": "nope"}, "expected an IPv4 or IPv6 address"),
        ("HASH_REPUTATION", {"value": "123"}, "expected an MD5, SHA-1 or SHA-256"),
        ("IP_REPUTATION", {"value": "8.8.8.8", "at": "2026-01-01T00:00:00Z"}, "does not take 'at'"),
        ("IP_TO_HOSTNAME", {"value": "10.1.2.3", "at": "yesterday"}, "at:"),
        ("IP_TO_HOSTNAME", {"value": "10.1.2.3", "at": "2026-01-01T00:00:00"}, "timezone"),
        ("IP_TO_HOSTNAME", {}, "value: Field required"),
        ("IP_TO_HOSTNAME", {"value": "10.1.2.3", "providers": ["ghost"]}, "'ghost' is not configured"),
        ("IP_TO_HOSTNAME", {"value": "10.1.2.3", "colour": "red"}, "colour"),
    ],
)
async def test_bad_input_is_422_saying_what_was_expected(path: str, payload: dict[str, object], needle: str) -> None:
    async with client({"inv": {"type": "fake", "answer": "ws-1"}}) as c:
        r = await c.post(f"/v1/queries/{path}", json=payload, headers=AUTH)
    assert r.status_code == 422, r.text
    assert needle in r.json()["error"]["message"]
    assert "Traceback" not in r.text


async def test_malformed_json_is_a_clear_422_on_both_routes() -> None:
    async with client({}) as c:
        for path in ("IP_TO_HOSTNAME", "ip_to_hostname"):
            r = await c.post(
                f"/v1/queries/{path}", content=b"{not json", headers={**AUTH, "Content-Type": "application/json"}
            )
            assert r.status_code == 422
            assert r.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}])
async def test_v1_routes_need_a_valid_key(headers: dict[str, str]) -> None:
    async with client({}) as c:
        for method, path in [("POST", "/v1/queries/IP_TO_HOSTNAME"), ("GET", "/v1/queries"), ("GET", "/v1/providers")]:
            r = await c.request(method, path, json={"value": "10.1.2.3"}, headers=headers)
            assert r.status_code == 401, path
            assert r.headers["www-authenticate"] == "Bearer"
            assert r.json()["error"]["message"] == "invalid or missing API key"


async def test_health_needs_no_key_and_ready_says_only_ready_or_not() -> None:
    async with client({"ok": {"type": "fake"}}) as c:
        assert (await c.get("/health")).json()["status"] == "ok"
        ready = await c.get("/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True}  # no instance names without a key


async def test_an_optional_source_down_never_makes_the_process_unready() -> None:
    """VirusTotal unreachable: queries still answer (with its status), so the replica stays in the Service."""
    vt_down = {"type": "fake", "answer": "ws-1", "fail": "ProviderUnavailable"}
    async with client({"vt": vt_down, "inv": {"type": "fake", "answer": "ws-1"}}) as c:
        ready = await c.get("/ready")
        answered = await c.post("/v1/queries/IP_TO_HOSTNAME", json={"value": "10.1.2.3"}, headers=AUTH)
    assert (ready.status_code, ready.json()) == (200, {"ready": True})
    assert answered.status_code == 200 and answered.json()["answer"]["value"] == "ws-1"


async def test_a_required_source_down_makes_the_process_unready() -> None:
    ad_down = {"type": "fake", "answer": "ws-1", "fail": "ProviderUnavailable", "required": True}
    async with client({"ad": ad_down, "vt": {"type": "fake", "answer": "ws-1"}}) as c:
        ready = await c.get("/ready")
        detail = {p["name"]: p["healthy"] for p in (await c.get("/v1/providers", headers=AUTH)).json()}
    assert (ready.status_code, ready.json()) == (503, {"ready": False})
    assert detail == {"ad": False, "vt": True}  # which one is down: behind a key


async def test_query_list_and_description() -> None:
    async with client({"inv": {"type": "fake", "answer": "ws-1"}}) as c:
        listed = (await c.get("/v1/queries", headers=AUTH)).json()
        one = await c.get("/v1/queries/user_manager", headers=AUTH)
    names = [q["name"] for q in listed]
    assert {"IP_TO_HOSTNAME", "USER_MANAGER", "HASH_REPUTATION", "TEAM_ONCALL"} <= set(names)
    ip = next(q for q in listed if q["name"] == "IP_TO_HOSTNAME")
    assert ip["input"] == "ip" and ip["accepts_at"] is True and ip["providers"] == ["inv"]
    assert one.status_code == 200 and one.json()["output_schema"]["title"] == "Person"


async def test_providers_list_never_shows_secrets() -> None:
    secret = "canary-7f3a9c1e-do-not-leak"
    async with client({"vt": {"type": "fake", "api_key": secret, "answer": "ws"}}) as c:
        r = await c.get("/v1/providers", headers=AUTH)
        spec = await c.get("/openapi.json")
    assert r.status_code == 200
    assert r.json()[0]["name"] == "vt" and r.json()[0]["queries"] == [
        "HASH_REPUTATION",
        "IP_TO_HOSTNAME",
        "USER_MANAGER",
    ]
    assert secret not in r.text and secret not in spec.text


async def test_provider_failure_is_never_a_5xx() -> None:
    async with client({"bug": {"type": "fake", "fail": "ZeroDivisionError"}}) as c:
        r = await c.post("/v1/queries/IP_TO_HOSTNAME", json={"value": "10.1.2.3"}, headers=AUTH)
    assert r.status_code == 200
    assert r.json()["providers"][0]["status"] == "error"


async def test_openapi_documents_each_query_input_and_output() -> None:
    async with client({}) as c:
        spec = (await c.get("/openapi.json")).json()
    op = spec["paths"]["/v1/queries/USER_MANAGER"]["post"]
    assert op["operationId"] == "query_USER_MANAGER"
    schemas = spec["components"]["schemas"]
    assert "UserManagerRequest" in schemas and "UserManagerResponse" in schemas
    assert "at" in schemas["IpToHostnameRequest"]["properties"]
    assert "at" not in schemas["HashReputationRequest"]["properties"]
    assert "expected" not in schemas["HashReputationRequest"]["properties"]["value"]["description"]
    assert "MD5" in schemas["HashReputationRequest"]["properties"]["value"]["description"]


async def test_docs_are_served_offline() -> None:
    async with client({}) as c:
        page = await c.get("/docs")
        js = await c.get("/static/swagger/swagger-ui-bundle.js")
    assert page.status_code == 200 and "/static/swagger/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    assert js.status_code == 200 and len(js.content) > 100_000
