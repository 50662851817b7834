"""Load with Redis loss: REQUESTS requests at CONCURRENCY through Positron with its Redis backend (cache,
single-flight, rate limits); redis-server is killed (SIGKILL) a quarter of the way in and restarted, empty, on the
same port DOWN_S seconds later. Goal: 0 failed requests.

    python -m bench.redis_loss [--requests 20000] [--concurrency 100] [--distinct 2000] [--down-s 3]

The hashes repeat (DISTINCT of them), so there are cache hits and misses before, during and after the outage. The
server runs 4 virustotal instances against 20 ms upstreams, as in (b); the driver is bench/driver.py in its own
process. After the run, Redis must hold keys again (the broker went back to it by itself).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import redis

from bench import procs
from bench.fanout import LATENCY_S, PROVIDERS, QUERY, check_positron
from bench.server import BENCH_KEY, UPSTREAM_KEY, redis_supported
from tests.support.redis_server import RedisServer


def measure(
    place: procs.Placement, requests: int = 20_000, concurrency: int = 100, distinct: int = 2_000, down_s: float = 3.0
) -> dict[str, Any]:
    if not redis_supported():
        return {"skipped": "the broker has no redis: setting yet (issue 5)"}
    store = RedisServer()
    store.start()
    _pin(store, place.load)
    try:
        with (
            procs.upstreams(PROVIDERS, LATENCY_S, UPSTREAM_KEY, place.load) as urls,
            procs.server(["bench.server", "vt", "64", *urls, "--redis", store.url], place.server) as positron,
        ):
            check_positron(positron.base_url, PROVIDERS)
            args = [positron.base_url + QUERY, BENCH_KEY, str(requests), str(concurrency), str(distinct)]
            result = _drive(args, store, place, requests // 4, down_s)
            with redis.Redis(port=store.port, socket_timeout=2) as client:
                result["redis_keys_after"] = int(client.dbsize())
    finally:
        store.stop()
    return {**result, "concurrency": concurrency, "distinct": distinct, "down_s": down_s}


def _drive(args: list[str], store: RedisServer, place: procs.Placement, kill_at: int, down_s: float) -> dict[str, Any]:
    driver = subprocess.Popen(
        [sys.executable, "-m", "bench.driver", *args],
        cwd=procs.ROOT,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, place.load)) if place.load else None,
    )
    assert driver.stdout is not None
    killed_at: float | None = None
    events: list[str] = []
    result: dict[str, Any] = {}
    for line in driver.stdout:
        if line.startswith("progress "):
            done = int(line.split()[1])
            if killed_at is None and done >= kill_at:
                store.kill()
                killed_at = time.monotonic()
                events.append(f"Redis killed after {done} requests")
            elif store.proc is None and killed_at is not None and time.monotonic() - killed_at >= down_s:
                store.start()
                _pin(store, place.load)
                events.append(f"Redis restarted after {done} requests ({time.monotonic() - killed_at:.1f} s down)")
        elif line.startswith("result "):
            result = json.loads(line.removeprefix("result "))
    driver.wait()
    if store.proc is None:  # the run ended first: restart anyway, and say so
        store.start()
        events.append("Redis restarted after the run")
    return {**result, "events": events}


def _pin(store: RedisServer, cpus: frozenset[int] | None) -> None:
    if cpus is not None and store.proc is not None:
        os.sched_setaffinity(store.proc.pid, cpus)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_loss")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--distinct", type=int, default=2_000)
    parser.add_argument("--down-s", type=float, default=3.0)
    a = parser.parse_args()
    print(json.dumps(measure(procs.Placement.detect(), a.requests, a.concurrency, a.distinct, a.down_s), indent=2))


if __name__ == "__main__":
    main()
