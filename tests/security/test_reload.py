"""Keys and policy reload without a restart: POST /v1/admin/reload, and SIGHUP to a real server. The next request
sees the change; a broken file keeps the previous keys and policy."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from positron.broker import Broker
from positron.config import load_settings
from positron.demo import DATA
from positron.security.auth import create_key, key_line
from tests.security.support import serving
from tests.support.apps import registry
from tests.support.servers import positron_server

QUERY = "/v1/queries/IP_TO_HOSTNAME"
BODY = {"value": "10.20.0.17"}
POLICY = "p, admins, *, *, allow\np, analysts, IP_TO_*, run, allow\np, analysts, *, use, allow\n"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def write_config(tmp_path: Path, **security: Any) -> Path:
    config = tmp_path / "positron.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "api_keys": [],
                "security": {
                    "keys_file": "keys.jsonl",
                    "policy": "policy.csv",
                    "audit": {"destination": None},
                    **security,
                },
                "providers": {"assets": {"type": "static_inventory", "hosts": str(DATA / "hosts.csv")}},
            }
        )
    )
    return config


async def test_the_admin_endpoint_reloads_keys_and_policy_and_keeps_them_when_broken(tmp_path: Path) -> None:
    admin, analyst = create_key("root", ["admins"]), create_key("erin", ["analysts"])
    keys, policy = tmp_path / "keys.jsonl", tmp_path / "policy.csv"  # relative to the config file
    keys.write_text(key_line(admin.entry) + "\n")
    policy.write_text(POLICY)
    b = Broker(load_settings(write_config(tmp_path), registry()), registry())
    async with serving(b) as c:

        async def erin() -> int:
            return (await c.post(QUERY, json=BODY, headers=bearer(analyst.key))).status_code

        async def reload(key: str = admin.key) -> httpx.Response:
            return await c.post("/v1/admin/reload", headers=bearer(key))

        before = await erin()
        keys.write_text(key_line(admin.entry) + "\n" + key_line(analyst.entry) + "\n")
        added = await reload()
        after_add = await erin()
        refused = await reload(analyst.key)  # not an admin
        policy.write_text(POLICY.replace("IP_TO_*", "HOSTNAME_TO_IP"))
        await reload()
        after_policy = await erin()
        policy.write_text("p, admins, *, *\nq, nonsense\n")
        broken = await reload()
        still = await erin()
        keys.write_text(key_line(admin.entry) + "\n")  # revoke erin
        await c.post("/v1/admin/reload", headers=bearer(admin.key))
        policy.write_text(POLICY)
        await reload()
        revoked = await erin()
    assert before == 401
    assert added.status_code == 200
    report = added.json()
    assert report["keys"] == 2 and report["rules"] == 3 and report["policy"].endswith("policy.csv")
    assert after_add == 200 and refused.status_code == 403
    assert after_policy == 403
    assert broken.status_code == 422 and broken.json()["error"]["code"] == "reload_failed"
    assert "policy.csv:2: a line starts with 'p' (a rule) or 'g' (a group link), not 'q'" in broken.text
    assert "the previous keys and policy stay" in broken.text
    assert still == 403  # the previous policy, not an empty one
    assert revoked == 401


async def test_keys_in_the_config_file_reload_too(tmp_path: Path) -> None:
    first, second = create_key("a", ["admins"]), create_key("b", ["admins"])
    (tmp_path / "keys.jsonl").write_text("")
    (tmp_path / "policy.csv").write_text(POLICY)
    config = write_config(tmp_path)
    data = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**data, "api_keys": [first.entry.model_dump(mode="json")]}))
    b = Broker(load_settings(config, registry()), registry())
    async with serving(b) as c:
        config.write_text(yaml.safe_dump({**data, "api_keys": [second.entry.model_dump(mode="json")]}))
        reloaded = await c.post("/v1/admin/reload", headers=bearer(first.key))
        old = await c.get("/v1/queries", headers=bearer(first.key))
        new = await c.get("/v1/queries", headers=bearer(second.key))
    assert reloaded.status_code == 200 and reloaded.json()["keys"] == 1
    assert (old.status_code, new.status_code) == (401, 200)


def _until(check: Callable[[], int], expected: int, timeout_s: float = 10.0) -> int:
    deadline = time.monotonic() + timeout_s
    while (got := check()) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return got


def test_sighup_reloads_a_running_server(tmp_path: Path) -> None:
    admin, analyst = create_key("root", ["admins"]), create_key("erin", ["analysts"])
    keys = tmp_path / "keys.jsonl"
    keys.write_text(key_line(admin.entry) + "\n")
    (tmp_path / "policy.csv").write_text(POLICY)
    config = write_config(tmp_path)
    with positron_server("--config", str(config)) as (base, proc):

        def erin() -> int:
            return httpx.post(f"{base}{QUERY}", json=BODY, headers=bearer(analyst.key)).status_code

        before = erin()
        keys.write_text(key_line(admin.entry) + "\n" + key_line(analyst.entry) + "\n")
        proc.send_signal(signal.SIGHUP)
        added = _until(erin, 200)
        keys.write_text("{broken\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        kept = erin()
        keys.write_text(key_line(admin.entry) + "\n")
        proc.send_signal(signal.SIGHUP)
        revoked = _until(erin, 401)
        alive = proc.poll() is None
    assert (before, added, kept, revoked) == (401, 200, 200, 401)
    assert alive  # SIGHUP reloads; it does not stop the server
