"""(d) One batch of N items (distinct hashes, all cache misses) over 4 virustotal instances of 20 ms, streamed as
NDJSON: items/s against the limit the configuration sets, ``min(batch_concurrency, max_concurrency) / latency``
(every item asks the 4 instances at once, so each instance sees one call per item in flight).

    python -m bench.batch [--items 10000]
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from typing import Any

import httpx

from bench import procs
from bench.fanout import LATENCY_S, PROVIDERS, check_positron
from bench.server import BENCH_KEY, UPSTREAM_KEY
from positron.config import WorkflowConfig

CONCURRENCY_LIMIT = 64  # each instance's max_concurrency in bench.server


def measure(place: procs.Placement, items: int = 10_000) -> dict[str, Any]:
    nonce = secrets.token_hex(4)
    body = {"items": [{"query": "HASH_REPUTATION", "value": f"{nonce}{i:056x}"} for i in range(items)]}
    batch_concurrency = WorkflowConfig().batch_concurrency
    with (
        procs.upstreams(PROVIDERS, LATENCY_S, UPSTREAM_KEY, place.load) as urls,
        procs.server(
            ["bench.server", "vt", str(CONCURRENCY_LIMIT), *urls, "--batch-max", str(items)], place.server
        ) as positron,
    ):
        check_positron(positron.base_url, PROVIDERS)
        result = _stream(positron.base_url, body, items)
        peaks = [httpx.get(f"{url}/_stats").json()["max_in_flight"] for url in urls]
    limit = min(batch_concurrency, CONCURRENCY_LIMIT) / LATENCY_S
    return {
        **result,
        "limit_items_per_s": limit,
        "batch_concurrency": batch_concurrency,
        "max_concurrency": CONCURRENCY_LIMIT,
        "upstream_peak_in_flight": peaks,
    }


def _stream(base: str, body: dict[str, Any], items: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {BENCH_KEY}", "Accept": "application/x-ndjson"}
    ok = failed = 0
    first: float | None = None
    started = time.perf_counter()
    with httpx.stream("POST", base + "/v1/batch", json=body, headers=headers, timeout=600) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line:
                continue
            first = first if first is not None else time.perf_counter() - started
            result = json.loads(line)
            statuses = [p["status"] for p in (result.get("result") or {}).get("providers", [])]
            ok, failed = (ok + 1, failed) if statuses == ["ok"] * PROVIDERS else (ok, failed + 1)
    seconds = time.perf_counter() - started
    return {
        "items": items,
        "seconds": round(seconds, 2),
        "items_per_s": round((ok + failed) / seconds, 1),
        "first_result_s": round(first or 0.0, 3),
        "all_ok": ok,
        "not_ok": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.batch")
    parser.add_argument("--items", type=int, default=10_000)
    print(json.dumps(measure(procs.Placement.detect(), parser.parse_args().items), indent=2))


if __name__ == "__main__":
    main()
