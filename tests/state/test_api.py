"""/metrics and the shared-state fields of GET /v1/providers, through the ASGI app."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.support.apps import AUTH, client

VT_LIKE = {"type": "fake", "answer": "ws-1", "rate_limits": [{"requests": 4, "per_s": 60}]}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_count_outcomes_cache_and_latency_without_a_key() -> None:
    async with client({"vt": VT_LIKE}) as c:
        for _ in range(2):
            r = await c.post("/v1/queries/IP_TO_HOSTNAME", json={"value": "10.1.2.3"}, headers=AUTH)
            assert r.status_code == 200
        metrics = await c.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    found = samples(metrics.text)
    vt, query = ("provider", "vt"), ("query", "IP_TO_HOSTNAME")
    assert found[("positron_provider_status_total", frozenset({vt, query, ("status", "ok")}))] == 2
    assert found[("positron_cache_requests_total", frozenset({vt, ("result", "hit")}))] == 1
    assert found[("positron_cache_requests_total", frozenset({vt, ("result", "miss")}))] == 1
    assert found[("positron_provider_call_seconds_count", frozenset({vt, query}))] == 1
    assert found[("positron_circuit_state", frozenset({vt}))] == 0
    assert "10.1.2.3" not in metrics.text  # values asked about never become labels


async def test_metrics_can_require_a_key_or_be_off() -> None:
    async with client({"vt": VT_LIKE}, metrics={"public": False}) as c:
        denied = await c.get("/metrics")
        allowed = await c.get("/metrics", headers=AUTH)
    assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
    assert allowed.status_code == 200 and "positron_provider_status_total" in allowed.text
    async with client({"vt": VT_LIKE}, metrics={"enabled": False}) as c:
        off = await c.get("/metrics")
    assert off.status_code == 404 and "metrics.enabled" in off.json()["error"]["message"]


async def test_providers_show_remaining_quota_pause_and_circuit() -> None:
    async with client({"vt": VT_LIKE, "plain": {"type": "fake", "answer": "ws-2"}}) as c:
        await c.post("/v1/queries/IP_TO_HOSTNAME", json={"value": "10.1.2.3"}, headers=AUTH)
        listed = {p["name"]: p for p in (await c.get("/v1/providers", headers=AUTH)).json()}
    assert listed["vt"]["quota"] == [{"requests": 4, "per_s": 60.0, "remaining": 2}]  # the query and the health probe
    assert (listed["vt"]["paused_s"], listed["vt"]["circuit"]) == (0.0, "closed")
    assert listed["plain"]["quota"] == []
