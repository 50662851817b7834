"""/metrics: HTTP requests by route template and status with latency, refused keys, denials; no Redis metrics
when Redis is not configured."""

from __future__ import annotations

import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.apps import AUTH, client

NOBODY = "nobody-key-0123456789abcdef0123"  # a key in no group: the default policy denies it everything


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_requests_by_route_template_status_latency_refused_keys_and_denials() -> None:
    providers = {"inv": {"type": "fake", "answer": "ws-1"}}
    async with client(providers) as c:
        for value in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):  # three values, one route label
            assert (await c.post("/v1/queries/IP_TO_HOSTNAME", json={"value": value}, headers=AUTH)).status_code == 200
        assert (await c.post("/v1/queries/ip_to_hostname", json={"value": "x"}, headers=AUTH)).status_code == 422
        assert (await c.get("/v1/providers", headers={"Authorization": "Bearer wrong"})).status_code == 401
        assert (await c.get("/no/such/path/123")).status_code == 404
        text = (await c.get("/metrics")).text
    got = samples(text)
    ok = ("route", "/v1/queries/IP_TO_HOSTNAME"), ("method", "POST")
    assert got[("positron_http_requests_total", tuple(sorted((*ok, ("status", "200")))))] == 3
    assert got[("positron_http_request_seconds_count", tuple(sorted(ok)))] == 3
    variant = ("method", "POST"), ("route", "/v1/queries/{name:path}"), ("status", "422")
    assert got[("positron_http_requests_total", tuple(sorted(variant)))] == 1
    unmatched = ("method", "GET"), ("route", "unmatched"), ("status", "404")
    assert got[("positron_http_requests_total", tuple(sorted(unmatched)))] == 1
    assert not any("123" in dict(labels).get("route", "") for _, labels in got)  # raw paths never become labels
    assert got[("positron_refused_keys_total", ())] == 1
    assert not any(name.startswith("positron_redis") for name, _ in got)  # no Redis configured: no Redis metrics


async def test_denials_are_counted_per_event() -> None:
    providers = {"inv": {"type": "fake", "answer": "ws-1"}}
    async with client(providers, api_keys=[{"principal": "nobody", "key": NOBODY}]) as c:
        denied = {"Authorization": f"Bearer {NOBODY}"}
        assert (
            await c.post("/v1/queries/IP_TO_HOSTNAME", json={"value": "10.0.0.1"}, headers=denied)
        ).status_code == 403
        text = (await c.get("/metrics")).text
    assert samples(text)[("positron_denials_total", (("event", "query"),))] == 1


async def test_a_provider_failure_is_a_log_record_with_level_and_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from positron.telemetry.logs import RequestFields, TextFormatter

    providers = {"broken": {"type": "fake", "answer": "ws-1", "fail": "ProviderUnavailable"}}
    caplog.set_level(logging.WARNING, logger="positron.engine")
    caplog.handler.addFilter(RequestFields())
    async with client(providers, engine={"retries": 0}) as c:
        headers = {**AUTH, "X-Request-ID": "req-fail-1"}
        assert (await c.post("/v1/queries/IP_TO_HOSTNAME", json={"value": "10.0.0.1"}, headers=headers)).is_success
    (record,) = [r for r in caplog.records if r.name == "positron.engine"]
    line = TextFormatter().format(record)
    assert record.levelname == "WARNING" and "provider broken error on IP_TO_HOSTNAME" in line
    assert "[request_id=req-fail-1 client=" in line and line.split()[0].endswith("Z")
