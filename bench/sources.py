"""Per-provider cost of one lookup against its emulator, for the asset and identity sources (issue 16):
fleet, crowdstrike, entra_id, elasticsearch. Each provider is opened once (a warm token where it has one), then
asked ``--n`` lookups one after another (ms per lookup, sequential) and ``--n`` lookups ``--concurrency`` at a time
(lookups/s). The emulators run in the same process and event loop, so the numbers include their side: they bound
the provider's own cost from above, they are not a service's latency.

    .venv/bin/python -m bench.sources [--n 400] [--concurrency 16]
"""

from __future__ import annotations

import sys

# ``python -m`` puts the checkout first, where positron/ lacks positron.providers (installed from providers/):
# look in the installed link tree first, and in the checkout (bench, tests) after it.
sys.path.append(sys.path.pop(0))

import argparse
import asyncio
import base64
import statistics
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from positron.providers.crowdstrike import CrowdStrike
from positron.providers.elasticsearch import Elasticsearch
from positron.providers.entra_id import EntraId
from positron.providers.fleet import Fleet
from positron.queries import HOST_INFO, IP_TO_HOSTNAME, IP_TO_USER, USER_GROUPS, USER_MANAGER

from positron.provider import Provider
from positron.query import Lookup
from tests.emulators.crowdstrike import FalconEmulator
from tests.emulators.elasticsearch import ElasticsearchEmulator
from tests.emulators.fleet import FleetEmulator
from tests.emulators.graph import GraphEmulator

Case = tuple[str, Lookup, Callable[[], Any]]


@asynccontextmanager
async def fleet() -> AsyncIterator[tuple[Provider[Any], list[Lookup]]]:
    emu = FleetEmulator("t")
    for i in range(50):
        emu.add_host(f"ws-{i:03d}.corp.example", primary_ip=f"10.1.{i // 250}.{i % 250 + 1}", emails=(f"u{i}@corp",))
    async with emu:
        p = Fleet("fleet", Fleet.Config.model_validate({"type": "fleet", "base_url": emu.base_url, "api_token": "t"}))
        yield p, [Lookup(IP_TO_HOSTNAME, "10.1.0.42"), Lookup(HOST_INFO, "ws-042")]


@asynccontextmanager
async def crowdstrike() -> AsyncIterator[tuple[Provider[Any], list[Lookup]]]:
    emu = FalconEmulator("c", "s")
    for i in range(50):
        emu.add_device(f"WS-{i:03d}", local_ip=f"10.1.0.{i + 1}", last_login_user=f"CORP\\u{i}")
    async with emu:
        raw = {"type": "crowdstrike", "client_id": "c", "client_secret": "s", "base_url": emu.base_url}
        p = CrowdStrike("falcon", CrowdStrike.Config.model_validate(raw))
        yield p, [Lookup(IP_TO_USER, "10.1.0.42"), Lookup(HOST_INFO, "ws-042")]


@asynccontextmanager
async def entra_id() -> AsyncIterator[tuple[Provider[Any], list[Lookup]]]:
    emu = GraphEmulator("t.example", "app", "s")
    boss = emu.add_user("boss@corp.example", sam="boss")
    for i in range(50):
        user = emu.add_user(f"u{i}@corp.example", sam=f"u{i}", manager=boss)
        emu.add_group(f"g{i}", members=(user,))
    async with emu:
        raw = {
            "type": "entra_id",
            "tenant_id": "t.example",
            "client_id": "app",
            "client_secret": "s",
            "authority_url": emu.base_url,
            "graph_url": emu.base_url,
        }
        p = EntraId("entra", EntraId.Config.model_validate(raw))
        yield p, [Lookup(USER_MANAGER, "u42"), Lookup(USER_GROUPS, "u42@corp.example")]


@asynccontextmanager
async def elasticsearch() -> AsyncIterator[tuple[Provider[Any], list[Lookup]]]:
    key = base64.b64encode(b"id:key").decode()
    emu = ElasticsearchEmulator(api_key=key)
    for i in range(50):
        emu.add(
            "logs-dhcp",
            **{"@timestamp": "2026-11-20T10:00:00Z", "client.ip": f"10.1.{i // 250}.{i % 250}", "host.name": f"ws-{i}"},
        )
    async with emu:
        searches = {
            "IP_TO_HOSTNAME": {
                "index": "logs-*",
                "match": ["client.ip"],
                "field": "host.name",
                "default_window_s": 10**9,
            }
        }
        raw = {"type": "elasticsearch", "url": emu.base_url, "api_key": key, "searches": searches}
        p = Elasticsearch("es", Elasticsearch.Config.model_validate(raw))
        yield p, [Lookup(IP_TO_HOSTNAME, "10.1.0.42")]


async def measure(name: str, factory: Any, n: int, concurrency: int) -> list[str]:
    rows = []
    async with factory() as (provider, lookups):
        await provider.open()
        try:
            for lookup in lookups:
                assert await provider.ask(lookup), f"{name} {lookup.query.name}: no answer"  # warm: token, pool
                times = []
                for _ in range(n):
                    start = time.perf_counter()
                    await provider.ask(lookup)
                    times.append((time.perf_counter() - start) * 1000)
                gate = asyncio.Semaphore(concurrency)

                async def one(lookup: Lookup = lookup, gate: asyncio.Semaphore = gate) -> None:
                    async with gate:
                        await provider.ask(lookup)

                start = time.perf_counter()
                await asyncio.gather(*(one() for _ in range(n)))
                rate = n / (time.perf_counter() - start)
                rows.append(
                    f"| {name} | {lookup.query.name} | {statistics.median(times):.2f} | "
                    f"{statistics.quantiles(times, n=20)[18]:.2f} | {rate:,.0f} |"
                )
        finally:
            await provider.aclose()
    return rows


async def main(n: int, concurrency: int) -> None:
    rows = [
        f"| provider | query | ms/lookup p50 (sequential) | p95 | lookups/s (concurrency {concurrency}) |",
        "|---|---|---|---|---|",
    ]
    for name, factory in (
        ("fleet", fleet),
        ("crowdstrike", crowdstrike),
        ("entra_id", entra_id),
        ("elasticsearch", elasticsearch),
    ):
        rows += await measure(name, factory, n, concurrency)
    print("\n".join(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.concurrency))
