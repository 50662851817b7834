"""One request cannot make the server do unbounded work: /v1/enrich looks up at most
workflows.enrich_max_observables observables and workflows.max_lookups lookups, /v1/batch at most
workflows.max_lookups distinct items; over a limit the answer is a 422 that names it, before any provider call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from positron.workflows.observables import TYPE_QUERIES
from tests.emulators.virustotal import VirusTotalEmulator
from tests.support.apps import AUTH, client
from tests.workflows.test_workflows_api import VT_KEY, demo_providers, vt_instance


@pytest.fixture
async def vt() -> AsyncIterator[VirusTotalEmulator]:
    async with VirusTotalEmulator(VT_KEY) as emulator:
        yield emulator


def public_ips(n: int) -> list[str]:
    return [f"{8 + i // 62500}.{i // 250 % 250}.{i % 250}.{1 + i % 7}" for i in range(n)]


async def test_an_alert_with_4000_public_ips_is_refused_before_any_lookup(
    vt: VirusTotalEmulator, tmp_path: Path
) -> None:
    log = tmp_path / "audit.jsonl"
    alert = {"search_name": "Port scan", "sid": "rt_1", "result": {"hits": " ".join(public_ips(4000))}}
    assert len(json.dumps(alert)) > 38_000
    security = {"audit": {"destination": str(log)}}
    async with client({**demo_providers(), "vt": vt_instance(vt)}, security=security) as c:
        r = await c.post("/v1/enrich", json=alert, headers=AUTH)
    assert r.status_code == 422
    assert r.json()["error"] == {
        "code": "too_many_lookups",
        "message": "the request holds 4000 distinct observables; workflows.enrich_max_observables allows at most 100",
    }
    assert vt.request_count == 0
    [line] = [json.loads(x) for x in log.read_text().splitlines()]  # one line for the request, not 12,000
    assert (line["status"], line["decision"], line["path"]) == (422, "invalid", "/v1/enrich")


async def test_enrich_lookups_are_bounded_by_max_lookups() -> None:
    observables = [{"type": "ip", "value": ip} for ip in public_ips(10)]
    per_ip = len(TYPE_QUERIES["ip"])
    workflows = {"max_lookups": 2 * per_ip}
    async with client(demo_providers(), workflows=workflows) as c:
        refused = await c.post("/v1/enrich", json={"observables": observables}, headers=AUTH)
        fits = await c.post("/v1/enrich", json={"observables": observables[:2]}, headers=AUTH)
    assert refused.status_code == 422
    assert refused.json()["error"]["message"] == (
        f"the request needs {10 * per_ip} lookups; workflows.max_lookups allows at most {2 * per_ip}"
    )
    assert fits.status_code == 200 and len(fits.json()["observables"]) == 2


async def test_batch_distinct_items_are_bounded_by_max_lookups() -> None:
    distinct = [{"query": "IP_TO_HOSTNAME", "value": ip} for ip in public_ips(6)]
    repeated = [{"query": "IP_TO_HOSTNAME", "value": "10.20.0.42"}] * 50
    async with client(demo_providers(), workflows={"max_lookups": 5}) as c:
        refused = await c.post("/v1/batch", json={"items": distinct}, headers=AUTH)
        fits = await c.post("/v1/batch", json={"items": repeated}, headers=AUTH)
    assert refused.status_code == 422
    assert "6 distinct items; workflows.max_lookups allows at most 5" in refused.json()["error"]["message"]
    assert fits.status_code == 200 and {x["status"] for x in fits.json()["results"]} == {200}


@pytest.mark.parametrize(
    ("setting", "value"), [("enrich_max_observables", 0), ("max_lookups", 0), ("max_lookups", 10**6)]
)
async def test_the_limits_are_validated_settings(setting: str, value: Any) -> None:
    from positron.config import parse_settings
    from positron.errors import ConfigError
    from tests.support.apps import registry

    with pytest.raises(ConfigError, match=f"workflows.{setting}"):
        parse_settings({"workflows": {setting: value}}, registry())
