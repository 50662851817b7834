"""An asyncio load driver for a fixed number of requests (wrk runs for a time, not a count), in its own process.

    python -m bench.driver URL KEY REQUESTS CONCURRENCY DISTINCT

POSTs ``{"value": <one of DISTINCT hashes>}`` REQUESTS times, CONCURRENCY at once, over keep-alive connections.
Prints ``progress N`` every 500 requests and, at the end, one ``result {...}`` JSON line: the failures (transport
errors and non-200 answers, with a sample), the responses in which some provider was not ``ok``, and latency
percentiles per tenth of the run (so a disturbance mid-run shows where it happened).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import statistics
import sys
import time
from collections import Counter
from typing import Any

import aiohttp
import uvloop


class Run:
    def __init__(self, total: int) -> None:
        self.total = total
        self.next = 0
        self.done = 0
        self.failures: Counter[str] = Counter()
        self.degraded: Counter[str] = Counter()
        self.latency: list[tuple[int, float]] = []  # (index, ms)

    def take(self) -> int | None:
        if self.next >= self.total:
            return None
        self.next += 1
        return self.next - 1


async def _one(session: aiohttp.ClientSession, url: str, value: str, run: Run, index: int) -> None:
    started = time.perf_counter()
    try:
        async with session.post(url, json={"value": value}) as response:
            body = await response.read()
            if response.status != 200:
                run.failures[f"HTTP {response.status}"] += 1
                return
            for provider in json.loads(body)["providers"]:
                if provider["status"] != "ok":
                    run.degraded[f"{provider['status']}:{provider['error_code']}"] += 1
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        run.failures[type(exc).__name__] += 1
    finally:
        run.latency.append((index, (time.perf_counter() - started) * 1000))
        run.done += 1
        if run.done % 500 == 0:
            print(f"progress {run.done}", flush=True)


async def _worker(session: aiohttp.ClientSession, url: str, values: list[str], run: Run) -> None:
    while (index := run.take()) is not None:
        await _one(session, url, values[index % len(values)], run, index)


def _tenths(run: Run) -> list[dict[str, float]]:
    out = []
    for tenth in range(10):
        low, high = run.total * tenth // 10, run.total * (tenth + 1) // 10
        samples = sorted(ms for i, ms in run.latency if low <= i < high)
        if samples:
            p99 = samples[min(len(samples) - 1, int(0.99 * (len(samples) - 1)))]
            out.append({"p50_ms": round(statistics.median(samples), 1), "p99_ms": round(p99, 1)})
    return out


async def drive(url: str, key: str, total: int, concurrency: int, distinct: int) -> dict[str, Any]:
    values = [hashlib.sha256(f"bench-load-{i}".encode()).hexdigest() for i in range(distinct)]
    run = Run(total)
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Authorization": f"Bearer {key}"}
    started = time.perf_counter()
    async with aiohttp.ClientSession(headers=headers, connector=connector, timeout=aiohttp.ClientTimeout(30)) as s:
        await asyncio.gather(*(_worker(s, url, values, run) for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    return {
        "requests": run.done,
        "seconds": round(seconds, 2),
        "failed": sum(run.failures.values()),
        "failures": dict(run.failures),
        "degraded_provider_statuses": dict(run.degraded),
        "by_tenth": _tenths(run),
    }


def main() -> None:
    url, key, total, concurrency, distinct = sys.argv[1:6]
    result = uvloop.run(drive(url, key, int(total), int(concurrency), int(distinct)))
    print("result " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
