"""(a) without HTTP: the engine alone over N in-process providers of D ms each, one query at a time, against a
bare ``asyncio.gather`` of N sleeps of D ms, in this process on uvloop (as uvicorn runs the server).

The difference between these two is the engine's own cost; the HTTP rows in ``fanout`` add the server stack.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import uvloop
from positron.queries import IP_TO_HOSTNAME

from bench.server import BENCH_KEY
from bench.sleepy import Sleepy
from positron.broker import Broker
from positron.config import parse_settings
from positron.registry import Registry


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(samples), 2), "p99_ms": round(percentile(samples, 99), 2)}


async def _engine(providers: int, delay_s: float, requests: int) -> list[float]:
    registry = Registry.from_entry_points()
    registry.register(Sleepy)
    config = {
        "api_keys": [{"principal": "bench", "key": BENCH_KEY}],
        "providers": {f"p{i}": {"type": "sleepy", "delay_s": delay_s} for i in range(providers)},
        "engine": {"cache_entries": 0},
        "security": {"audit": {"destination": None}},
    }
    broker = Broker(parse_settings(config, registry), registry)
    await broker.start()
    samples = []
    try:
        for i in range(requests):
            started = time.perf_counter()
            result = await broker.engine.run(IP_TO_HOSTNAME, f"10.1.{i // 250 % 250}.{i % 250}")
            samples.append((time.perf_counter() - started) * 1000)
            assert len(result.providers) == providers and all(p.status == "ok" for p in result.providers)
    finally:
        await broker.close()
    return samples


async def _gather(providers: int, delay_s: float, requests: int) -> list[float]:
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        await asyncio.gather(*(asyncio.sleep(delay_s) for _ in range(providers)))
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def measure(providers: int = 4, delay_s: float = 0.02, requests: int = 300, warmup: int = 20) -> dict[str, Any]:
    """Alternating blocks of engine and gather runs; the first ``warmup`` samples of each are dropped."""
    engine: list[float] = []
    gather: list[float] = []
    block = max(1, (requests + warmup) // 4)
    for _ in range(4):
        engine += uvloop.run(_engine(providers, delay_s, block))
        gather += uvloop.run(_gather(providers, delay_s, block))
    return {"engine": summary(engine[warmup:]), "gather": summary(gather[warmup:])}


if __name__ == "__main__":
    print(measure())
