"""Request mistakes get a 4xx that says how to fix them, on every route (the variant-name query route included),
and never a 500: a body that is not sent as JSON, malformed JSON (where it broke), bytes that are not UTF-8, JSON
nested thousands deep, huge numbers, times without a UTC equivalent, lone surrogates. A 500 that still happens
carries the request id and the security headers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from positron.api.app import create_app
from positron.query import Query
from tests.support.apps import AUTH, broker, client
from tests.workflows.test_workflows_api import demo_providers

JSON = {**AUTH, "Content-Type": "application/json"}
ROUTES = ["/v1/queries/IP_TO_HOSTNAME", "/v1/queries/ip_to_hostname", "/v1/batch", "/v1/enrich"]
LATE = "9999-12-31T23:59:59-01:00"
EARLY = "0001-01-01T00:00:00+01:00"


def message(r: httpx.Response) -> str:
    text: str = r.json()["error"]["message"]
    return text


@pytest.mark.parametrize("route", ROUTES)
async def test_a_form_encoded_body_is_told_to_send_json(route: str) -> None:
    async with client(demo_providers()) as c:  # what `curl -d value=10.20.0.42` sends
        r = await c.post(
            route, content=b"value=10.20.0.42", headers={**AUTH, "Content-Type": "application/x-www-form-urlencoded"}
        )
    assert r.status_code == 415
    assert r.json()["error"]["code"] == "unsupported_media_type"
    assert "Content-Type: application/json" in message(r) and "application/x-www-form-urlencoded" in message(r)


@pytest.mark.parametrize("route", ROUTES)
async def test_malformed_json_says_where_it_broke(route: str) -> None:
    async with client(demo_providers()) as c:
        r = await c.post(route, content=b'{\n  "value": "10.20.0.42",\n}', headers=JSON)
    assert r.status_code == 422
    assert (
        message(r)
        == "the body is not valid JSON: Expecting property name enclosed in double quotes at line 3, column 1"
    )


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"value": "10.20.0.\xff"}', "not UTF-8"),
        (b"[" * 5000 + b"]" * 5000, "nested more than 32 levels"),
        (b'{"value": ' + b"9" * 5000 + b"}", "too many digits"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "nested more than 32 levels"),
    ],
)
async def test_hostile_bodies_are_a_422_on_every_route(route: str, body: bytes, expected: str) -> None:
    async with client(demo_providers()) as c:
        r = await c.post(route, content=body, headers=JSON)
    assert r.status_code == 422, r.text
    assert expected in message(r)
    assert r.headers["x-request-id"] and r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("at", [LATE, EARLY])
async def test_a_time_without_a_utc_equivalent_fails_only_its_own_item(at: str) -> None:
    items = [
        {"query": "IP_TO_HOSTNAME", "value": "10.20.0.42", "at": at},
        {"query": "IP_TO_HOSTNAME", "value": "10.20.0.42"},
    ]
    async with client(demo_providers()) as c:
        single = await c.post("/v1/queries/IP_TO_HOSTNAME", json={"value": "10.20.0.42", "at": at}, headers=AUTH)
        batch = await c.post("/v1/batch", json={"items": items}, headers=AUTH)
        enrich = await c.post(
            "/v1/enrich", json={"observables": [{"type": "ip", "value": "10.20.0.42"}], "at": at}, headers=AUTH
        )
    assert single.status_code == 422 and "between 0001-01-01 and 9999-12-31" in message(single)
    assert [x["status"] for x in batch.json()["results"]] == [422, 200]
    assert enrich.status_code == 200, enrich.text
    results = enrich.json()["observables"][0]["results"]
    assert "between 0001-01-01" in results["IP_TO_HOSTNAME"]["error"]["message"]  # takes `at`: fails alone
    assert results["IP_REPUTATION"]["query"] == "IP_REPUTATION"  # answers for now: unaffected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"result": {"user": "\\ud800"}, "sid": "x"}', "alert.result.user: holds a lone surrogate"),
        (b'{"result": {"\\ud800": "10.1.2.3"}, "sid": "x"}', "alert.result: a field name holds a lone surrogate"),
        (b'{"src": "10.1.2.3", "queries": ["\\ud800"]}', "queries: a name holds a lone surrogate"),
    ],
)
async def test_lone_surrogates_in_an_alert_are_a_clear_422(body: bytes, expected: str) -> None:
    async with client(demo_providers()) as c:
        r = await c.post("/v1/enrich", content=body, headers=JSON)
    assert r.status_code == 422, r.text
    assert expected in message(r)


async def test_lone_surrogates_in_values_fail_alone() -> None:
    batch = (
        b'{"items": [{"query": "IP_TO_HOSTNAME", "value": "\\ud800"}, '
        b'{"query": "IP_TO_HOSTNAME", "value": "10.20.0.42"}]}'
    )
    typed = b'{"observables": [{"type": "username", "value": "jd\\ud800oe"}, {"type": "ip", "value": "10.20.0.42"}]}'
    async with client(demo_providers()) as c:
        single = await c.post("/v1/queries/USER_INFO", content=b'{"value": "\\ud800"}', headers=JSON)
        items = await c.post("/v1/batch", content=batch, headers=JSON)
        enrich = await c.post("/v1/enrich", content=typed, headers=JSON)
    assert single.status_code == 422 and message(single).startswith("value: ")
    assert "unicode string" in message(single)
    assert [x["status"] for x in items.json()["results"]] == [422, 200]
    assert "lone surrogate" in items.json()["results"][0]["error"]["message"]
    assert items.json()["results"][1]["result"]["answer"]["value"] == "ws-042.corp.example"
    assert enrich.status_code == 422 and message(enrich).startswith("observables.0.value: ")


def test_a_lone_surrogate_is_never_a_valid_value() -> None:
    from positron.errors import InvalidInput
    from positron.inputs import InputKind, normalize

    with pytest.raises(InvalidInput, match="lone surrogate"):
        normalize(InputKind.USERNAME, "jd\ud800oe")


async def test_a_query_no_configured_provider_answers_says_so() -> None:
    async with client(demo_providers()) as c:
        r = await c.post("/v1/queries/TEAM_ONCALL", json={"value": "soc"}, headers=AUTH)
    assert r.status_code == 200
    assert r.json()["providers"] == [] and r.json()["answer"] is None
    assert r.json()["details"]["hint"] == "no configured provider answers TEAM_ONCALL"


async def test_a_500_carries_the_request_id_and_the_security_headers() -> None:
    b = broker({})
    app = create_app(b)

    async def boom() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/boom", boom)
    await b.start()
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://positron") as c:
            r = await c.get("/boom", headers={"X-Request-ID": "req-500"})
    finally:
        await b.close()
    assert r.status_code == 500
    assert r.json()["error"]["message"] == "internal error (request id req-500)"
    assert r.headers["x-request-id"] == "req-500"
    assert (r.headers["x-content-type-options"], r.headers["x-frame-options"]) == ("nosniff", "DENY")
    assert r.headers["cache-control"] == "no-store"


async def test_a_value_is_normalized_once_on_its_way(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    normalize = Query.normalize

    def counting(self: Query[Any], raw: str) -> str:
        calls.append(raw)
        return normalize(self, raw)

    monkeypatch.setattr(Query, "normalize", counting)
    async with client(demo_providers()) as c:
        await c.post("/v1/queries/IP_TO_HOSTNAME", json={"value": " 10.20.0.42 "}, headers=AUTH)
        single = list(calls)
        await c.post("/v1/batch", json={"items": [{"query": "IP_TO_HOSTNAME", "value": "10.20.0.17"}]}, headers=AUTH)
    assert single == [" 10.20.0.42 "]
    assert calls[1:] == ["10.20.0.17"]
