"""Two real broker processes (``positron serve``) sharing one real redis-server, asking the VirusTotal emulator:
the public 4/minute limit holds across both (counted at the emulator), a cache fill by one is a hit in the other,
a burst over both spends one upstream call, and Redis dying mid-run only costs sharing, until it is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.emulators.virustotal import EICAR, VirusTotalEmulator
from tests.support.redis_server import RedisServer, redis_server
from tests.support.servers import positron_server

KEY = "replica-test-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}


def write_config(path: Path, redis_url: str, vt_url: str) -> Path:
    vt = {"type": "virustotal", "api_key": "emulator-key", "base_url": vt_url}
    config = {
        "api_keys": [{"principal": "ops", "key": KEY, "groups": ["admins"]}],
        "engine": {"deadline_s": 3, "retries": 0},
        "redis": {"url": redis_url, "retry_s": 0.2, "timeout_s": 1.0},  # 1 s: CI machines are busy
        "providers": {
            "vt": vt,  # the public API's limits: 4/minute, 500/day
            "vt_burst": {**vt, "rate_limits": [{"requests": 1000, "per_s": 1}]},
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def two_replicas(config: Path) -> Iterator[list[str]]:
    with ExitStack() as stack:
        yield [stack.enter_context(positron_server("--config", str(config)))[0] for _ in range(2)]


async def ask(http: httpx.AsyncClient, base: str, value: str, provider: str) -> dict[str, Any]:
    r = await http.post(
        f"{base}/v1/queries/HASH_REPUTATION", json={"value": value, "providers": [provider]}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    status: dict[str, Any] = r.json()["providers"][0]
    return status


async def test_the_rate_limit_and_the_cache_are_shared(tmp_path: Path, redis_srv: RedisServer) -> None:
    redis_srv.flush()
    async with VirusTotalEmulator() as vt:
        hashes = vt.seed_files(6)
        with two_replicas(write_config(tmp_path / "p.yaml", redis_srv.url, vt.base_url)) as (a, b):
            async with httpx.AsyncClient(timeout=10) as http:
                seen = [await ask(http, base, h, "vt") for h, base in zip(hashes, [a, b] * 3, strict=True)]
                hit = await ask(http, b, hashes[0], "vt")  # filled through a
                listed = {p["name"]: p for p in (await http.get(f"{b}/v1/providers", headers=AUTH)).json()}
    assert [s["status"] for s in seen] == ["ok"] * 4 + ["rate_limited"] * 2
    assert all(s["retry_after"] > 3 for s in seen[4:])
    assert hit["cached"] and hit["status"] == "ok"
    lookups = [r.path for r in vt.requests if EICAR["sha256"] not in r.path]  # health checks ask for EICAR
    assert len(lookups) == 4  # 4/minute across both replicas, counted at the upstream
    assert [(q["requests"], q["remaining"]) for q in listed["vt"]["quota"]] == [(4, 0), (500, 496)]
    assert listed["vt"]["health"] == "not checked: rate limit reached"  # a probe never breaks the limit either


async def test_a_burst_over_both_replicas_spends_one_upstream_call(tmp_path: Path, redis_srv: RedisServer) -> None:
    redis_srv.flush()
    async with VirusTotalEmulator(latency_s=0.3) as vt:
        (sha256,) = vt.seed_files(1, seed=7)
        with two_replicas(write_config(tmp_path / "p.yaml", redis_srv.url, vt.base_url)) as (a, b):
            limits = httpx.Limits(max_connections=200)
            async with httpx.AsyncClient(timeout=10, limits=limits) as http:
                burst = await asyncio.gather(*(ask(http, base, sha256, "vt_burst") for base in [a, b] * 50))
                metrics = [(await http.get(f"{base}/metrics")).text for base in (a, b)]
    assert vt.request_count == 1, [line for m in metrics for line in m.splitlines() if "redis" in line]
    assert {s["status"] for s in burst} == {"ok"}


async def test_redis_killed_mid_run_then_restarted(tmp_path: Path) -> None:
    with redis_server() as redis:
        async with VirusTotalEmulator() as vt:
            hashes = vt.seed_files(20, seed=3)
            with two_replicas(write_config(tmp_path / "p.yaml", redis.url, vt.base_url)) as (a, b):
                async with httpx.AsyncClient(timeout=10) as http:
                    await ask(http, a, hashes[0], "vt_burst")
                    assert (await ask(http, b, hashes[0], "vt_burst"))["cached"]
                    redis.kill()
                    during = [
                        await ask(http, base, h, "vt_burst") for h, base in zip(hashes[1:9], [a, b] * 4, strict=True)
                    ]
                    redis.start()
                    resumed = await _shared_again(http, a, b, hashes[9:])
                    metrics = (await http.get(f"{a}/metrics")).text
    assert [s["status"] for s in during] == ["ok"] * 8
    assert resumed
    assert "positron_redis_errors_total" in metrics and "positron_redis_up 1.0" in metrics


async def _shared_again(http: httpx.AsyncClient, a: str, b: str, hashes: list[str], timeout_s: float = 8) -> bool:
    """Fill through a, read through b, with fresh values until b sees a's fill (both have probed Redis back)."""
    deadline = time.monotonic() + timeout_s
    for value in hashes:
        await ask(http, a, value, "vt_burst")
        if (await ask(http, b, value, "vt_burst"))["cached"]:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)
    return False
