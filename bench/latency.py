"""(a) Latency of one query over N providers of D ms each, at concurrency 1, against the physical limit D."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import httpx

from bench.server import BENCH_KEY
from tests.support.servers import free_port, wait_http


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def measure(providers: int = 4, delay_s: float = 0.02, requests: int = 300, warmup: int = 30) -> dict[str, float]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.server", str(port), str(providers), str(delay_s)])
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/health", proc)
        headers = {"Authorization": f"Bearer {BENCH_KEY}"}
        samples: list[float] = []
        with httpx.Client(base_url=base, headers=headers) as client:
            for i in range(warmup + requests):
                started = time.perf_counter()
                r = client.post("/v1/queries/IP_TO_HOSTNAME", json={"value": f"10.1.{i // 250}.{i % 250}"})
                elapsed = time.perf_counter() - started
                assert r.status_code == 200 and len(r.json()["answer"]["sources"]) == providers, r.text
                if i >= warmup:
                    samples.append(elapsed * 1000)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    limit_ms = delay_s * 1000
    return {
        "providers": providers,
        "provider_ms": limit_ms,
        "requests": requests,
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(percentile(samples, 99), 2),
        "p50_over_limit": round(statistics.median(samples) / limit_ms, 3),
        "sequential_sum_ms": limit_ms * providers,
    }


if __name__ == "__main__":
    print(measure())
