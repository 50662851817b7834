"""/v1/batch and /v1/enrich through the app, with real providers: demo data, and VirusTotal's emulator."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from positron.demo import DATA, demo_config
from tests.emulators.virustotal import EICAR, VirusTotalEmulator
from tests.support.apps import AUTH, KEY, client
from tests.support.servers import positron_server

VT_KEY = "vt-emulator-key-0123456789"


@pytest.fixture
async def vt() -> AsyncIterator[VirusTotalEmulator]:
    async with VirusTotalEmulator(VT_KEY) as emulator:
        yield emulator


def vt_instance(emulator: VirusTotalEmulator, **extra: Any) -> dict[str, Any]:
    return {"type": "virustotal", "api_key": VT_KEY, "base_url": emulator.base_url, "rate_limits": [], **extra}


def demo_providers() -> dict[str, Any]:
    providers: dict[str, Any] = demo_config(KEY)["providers"]
    return providers


async def test_batch_with_50_distinct_hashes_in_1000_items_makes_50_upstream_calls(vt: VirusTotalEmulator) -> None:
    hashes = vt.seed_files(50)
    items = [
        {"query": "HASH_REPUTATION", "value": hashes[i % 50].upper() if i % 2 else hashes[i % 50]} for i in range(1000)
    ]
    async with client({"vt": vt_instance(vt)}, engine={"cache_entries": 0}) as c:
        r = await c.post("/v1/batch", json={"items": items}, headers=AUTH)
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["index"] for x in results] == list(range(1000))
    assert all(x["status"] == 200 and x["result"]["answer"] is not None for x in results)
    assert results[7]["result"]["value"] == hashes[7]
    assert vt.request_count == 50


async def test_batch_items_fail_on_their_own_and_the_rest_run() -> None:
    items = [
        {"query": "IP_TO_HOSTNAME", "value": "10.20.0.42"},
        {"query": "NO_SUCH", "value": "x"},
        {"query": "ip_to_hostname", "value": "not-an-ip"},
        {"query": "IP_TO_HOSTNAME", "value": "10.20.0.42", "at": "2026-11-20T12:00:00Z"},
    ]
    async with client(demo_providers()) as c:
        r = await c.post("/v1/batch", json={"items": items}, headers=AUTH)
    results = r.json()["results"]
    assert [x["status"] for x in results] == [200, 404, 422, 200]
    assert results[1]["error"]["code"] == "unknown_query"
    assert "expected an IPv4" in results[2]["error"]["message"]
    assert results[0]["result"]["answer"]["value"] == "ws-042.corp.example"
    assert results[3]["result"]["answer"]["value"] == "laptop-7"


async def test_batch_over_the_limit_is_a_clear_422() -> None:
    items = [{"query": "IP_TO_HOSTNAME", "value": "10.0.0.1"}] * 11
    async with client({}, workflows={"batch_max_items": 10}) as c:
        r = await c.post("/v1/batch", json={"items": items}, headers=AUTH)
        empty = await c.post("/v1/batch", json={"items": []}, headers=AUTH)
    assert r.status_code == 422 and "at most 10 items; got 11" in r.json()["error"]["message"]
    assert empty.status_code == 422


async def test_ndjson_streams_the_first_result_before_the_slowest_provider_finishes(tmp_path: Path) -> None:
    async with VirusTotalEmulator(VT_KEY, latency_s=2.0) as slow_vt:
        config = tmp_path / "positron.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "api_keys": [{"principal": "alice", "key": KEY, "groups": ["admins"]}],
                    "providers": {
                        "assets": {"type": "static_inventory", "hosts": str(DATA / "hosts.csv")},
                        "vt": vt_instance(slow_vt),
                    },
                }
            )
        )
        items = [
            {"query": "HASH_REPUTATION", "value": EICAR["md5"]},
            {"query": "IP_TO_HOSTNAME", "value": "10.20.0.17"},
        ]
        with positron_server("--config", str(config)) as (base, _):
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:
                started = time.monotonic()
                arrivals: list[tuple[float, dict[str, Any]]] = []
                headers = {**AUTH, "Accept": "application/x-ndjson"}
                async with http.stream("POST", "/v1/batch", json={"items": items}, headers=headers) as r:
                    assert r.headers["content-type"].startswith("application/x-ndjson")
                    async for line in r.aiter_lines():
                        if line:
                            arrivals.append((time.monotonic() - started, json.loads(line)))
    assert [a[1]["index"] for a in arrivals] == [1, 0]
    assert arrivals[0][0] < 1.5 <= arrivals[1][0]  # the fast answer did not wait for the 2 s provider
    assert arrivals[1][1]["result"]["answer"]["value"]["verdict"] == "malicious"


SPLUNK_WEBHOOK = {
    "search_name": "Malware on endpoint",
    "sid": "scheduler__admin__search__RMD5e1e0e3ea",
    "results_link": "https://splunk.corp.example:8000/app/search/@go?sid=scheduler__admin__search__RMD5e1e0e3ea",
    "app": "search",
    "owner": "admin",
    "result": {
        "user": "CORP\\jdoe",
        "md5": EICAR["md5"],
        "hostname": "ws-042",
        "src_ip": "10.20.0.42",
        "_time": "2026-11-20T12:00:00+00:00",
    },
}


async def test_splunk_webhook_enriched_into_a_ticket_comment(vt: VirusTotalEmulator) -> None:
    async with client({**demo_providers(), "vt": vt_instance(vt)}) as c:
        r = await c.post("/v1/enrich", json=SPLUNK_WEBHOOK, headers=AUTH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["at"] == "2026-11-20T12:00:00+00:00" and body["title"] == "Malware on endpoint"
    by_value = {o["value"]: o["results"] for o in body["observables"]}
    assert by_value["jdoe"]["USER_MANAGER"]["answer"]["value"]["username"] == "asmith"
    assert by_value["jdoe"]["USER_INFO"]["answer"]["value"]["display_name"] == "Jane Doe"
    assert by_value[EICAR["md5"]]["HASH_REPUTATION"]["answer"]["value"]["verdict"] == "malicious"
    assert by_value["10.20.0.42"]["IP_TO_HOSTNAME"]["answer"]["value"] == "laptop-7"  # the holder at alert time
    assert by_value["10.20.0.42"]["IP_TO_HOSTNAME"]["at"] == "2026-11-20T12:00:00+00:00"
    assert by_value["ws-042"]["HOSTNAME_TO_IP"]["answer"]["value"] == "10.20.0.42"
    text = body["markdown"]
    for fact in (
        "Jane Doe",
        "Alice Smith",
        "MALICIOUS",
        "virus.eicar/test",
        "laptop-7",
        "00:16:3e:aa:bb:cc",
        "10.20.0.42",
    ):
        assert fact in text, fact
    assert vt.request_count == 1  # the private IP never went to the external service
    assert by_value["10.20.0.42"]["IP_REPUTATION"]["providers"][-1]["status"] == "skipped"


async def test_enrich_typed_observables_with_a_query_subset() -> None:
    payload = {"observables": [{"type": "ip", "value": "10.20.0.17"}], "queries": ["ip_to_hostname"]}
    async with client(demo_providers()) as c:
        r = await c.post("/v1/enrich", json=payload, headers=AUTH)
        bad = await c.post("/v1/enrich", json={"observables": [{"type": "ip", "value": "x"}]}, headers=AUTH)
        unknown = await c.post("/v1/enrich", json={**payload, "queries": ["NOPE"]}, headers=AUTH)
        nothing = await c.post("/v1/enrich", json={}, headers=AUTH)
    assert list(r.json()["observables"][0]["results"]) == ["IP_TO_HOSTNAME"]
    assert "ws-017.corp.example" in r.json()["markdown"]
    assert bad.status_code == 422 and "observables.0.value" in bad.json()["error"]["message"]
    assert unknown.status_code == 422 and "unknown NOPE" in unknown.json()["error"]["message"]
    assert nothing.status_code == 422 and "expected 'observables'" in nothing.json()["error"]["message"]
