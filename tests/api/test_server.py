"""Against a real uvicorn process: the configured server, and the embedded demo the README starts."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

from positron.demo import DATA
from tests.support.servers import positron_server

KEY = "server-test-key-0123456789abcdefghij"


def test_configured_server_answers_over_http(tmp_path: Path) -> None:
    config = tmp_path / "positron.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "api_keys": [{"principal": "alice", "key": {"env": "TEST_POSITRON_KEY"}, "groups": ["admins"]}],
                "providers": {"assets": {"type": "static_inventory", "hosts": str(DATA / "hosts.csv")}},
            }
        )
    )
    with positron_server("--config", str(config), env={"TEST_POSITRON_KEY": KEY}) as (base, _):
        auth = {"Authorization": f"Bearer {KEY}"}
        r = httpx.post(f"{base}/v1/queries/IP_TO_HOSTNAME", json={"value": "10.20.0.17"}, headers=auth)
        denied = httpx.get(f"{base}/v1/providers")
        ready = httpx.get(f"{base}/ready")
    assert r.status_code == 200
    assert r.json()["answer"]["value"] == "ws-017.corp.example"
    assert r.json()["providers"] == [
        {
            "name": "assets",
            "type": "static_inventory",
            "status": "ok",
            "elapsed_ms": r.json()["providers"][0]["elapsed_ms"],
            "cached": False,
            "age_s": None,
            "error": None,
            "error_code": None,
            "retry_after": None,
        }
    ]
    assert denied.status_code == 401
    assert ready.json() == {"ready": True}  # instance names and health only behind a key (/v1/providers)


def test_demo_serves_merged_answers_with_its_printed_key() -> None:
    key = "demo-key-for-the-test-0123456789"
    with positron_server(env={"POSITRON_DEMO_KEY": key, "POSITRON_CONFIG": ""}) as (base, proc):
        auth = {"Authorization": f"Bearer {key}"}
        host = httpx.post(f"{base}/v1/queries/IP_TO_HOSTNAME", json={"value": "10.20.0.42"}, headers=auth).json()
        manager = httpx.post(f"{base}/v1/queries/USER_MANAGER", json={"value": "CORP\\jdoe"}, headers=auth).json()
        then = httpx.post(
            f"{base}/v1/queries/IP_TO_HOSTNAME",
            json={"value": "10.20.0.42", "at": "2026-11-20T12:00:00Z"},
            headers=auth,
        ).json()
    assert key in proc.captured_stdout  # the banner printed the key
    assert host["answer"]["value"] == "ws-042.corp.example"
    assert {s["provider"] for s in host["answer"]["sources"]} == {"inventory", "dhcp"}
    assert manager["answer"]["value"]["username"] == "asmith"
    assert {s["provider"] for s in manager["answer"]["sources"]} == {"inventory", "hr_export"}
    assert then["answer"]["value"] == "laptop-7"
    assert [a["value"] for a in then["answers"]][:2] == ["laptop-7", "ws-042.corp.example"]
