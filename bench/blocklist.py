"""Load time, memory and lookup rate of the blocklist provider at 1,000,000 entries.

Run: ``.venv/bin/python bench/blocklist.py [--entries N] [--lookups N] [--compare-radix]`` (as a script, so
``positron`` is the installed package, not the checkout folder). A plain-text feed of
N entries is generated (70 % IPv4 addresses, 25 % IPv4 ranges /16–/28, 5 % IPv6 ranges /32–/64, with a Spamhaus-style
``; SBL`` comment on every line) and loaded through the provider's own parser (``_feed._parse``: inet_pton, the two
pytricia tries). Then: raw longest-prefix lookups per second (``FeedIndex.match_ip``, half of them hits), and full
handler lookups per second (``Blocklist.ip_reputation``: the match, the verdict and the ``Answer``).
``--compare-radix`` loads the same entries into py-radix (if installed) for the choice of library.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import random
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from positron.providers.blocklist import Blocklist
from positron.providers.blocklist._feed import Copy, FeedConfig, _parse
from positron.queries import IP_REPUTATION

from positron.query import Lookup


def feed_lines(entries: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for i in range(entries):
        roll = rng.random()
        if roll < 0.70:
            entry = str(ipaddress.IPv4Address(rng.getrandbits(32)))
        elif roll < 0.95:
            length = rng.choice((16, 20, 22, 24, 24, 24, 28))
            entry = f"{ipaddress.IPv4Address(rng.getrandbits(32) >> (32 - length) << (32 - length))}/{length}"
        else:
            length = rng.choice((32, 48, 56, 64))
            value = (0x2001 << 112 | rng.getrandbits(112)) >> (128 - length) << (128 - length)
            entry = f"{ipaddress.IPv6Address(value)}/{length}"
        lines.append(f"{entry} ; SBL{100000 + i}")
    return lines


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def probes(lines: list[str], count: int, seed: int = 2) -> list[str]:
    """Half listed (an address inside a listed entry), half random IPv4 addresses."""
    rng = random.Random(seed)
    out = []
    for _ in range(count // 2):
        network = ipaddress.ip_network(rng.choice(lines).split()[0], strict=False)
        out.append(str(network.network_address + rng.randrange(min(network.num_addresses, 1 << 16))))
        out.append(str(ipaddress.IPv4Address(rng.getrandbits(32))))
    return out


def bench(entries: int, lookups: int, compare_radix: bool) -> dict[str, Any]:
    lines = feed_lines(entries)
    body = ("\n".join(lines) + "\n").encode()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "feed.txt"
        path.write_bytes(body)
        config = FeedConfig(name="bench", path=path, kinds=["ip"])
        before = rss_mib()
        wall, cpu = time.perf_counter(), time.process_time()
        index = _parse(config, path.read_bytes())
        load_s, load_cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    kept = rss_mib() - before
    queries = probes(lines, lookups)
    started, cpu = time.perf_counter(), time.process_time()
    hits = sum(1 for q in queries if index.match_ip(q) is not None)
    match_rate = len(queries) / (time.perf_counter() - started)
    match_cpu_rate = len(queries) / (time.process_time() - cpu)
    handler_rate, handler_cpu_rate = asyncio.run(_handler_rate(index, queries[: max(1, lookups // 4)]))
    result: dict[str, Any] = {
        "entries": len(index),
        "feed_mib": round(len(body) / 2**20, 1),
        "load_s": round(load_s, 2),
        "load_cpu_s": round(load_cpu_s, 2),
        "rss_kept_mib": round(kept, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "lookups": len(queries),
        "hit_ratio": round(hits / len(queries), 3),
        "match_per_s": round(match_rate),
        "match_per_cpu_s": round(match_cpu_rate),
        "handler_per_s": round(handler_rate),
        "handler_per_cpu_s": round(handler_cpu_rate),
    }
    if compare_radix:
        result["py_radix"] = _radix(lines, queries)
    return result


async def _handler_rate(index: Any, queries: list[str]) -> tuple[float, float]:
    """Lookups through the provider's handler: match, verdict, Answer (no engine, no cache)."""
    feeds = [{"name": "bench", "path": "/nonexistent", "kinds": ["ip"]}]
    provider = Blocklist("bench", Blocklist.Config.model_validate({"type": "blocklist", "feeds": feeds}))
    provider.feeds[0].copy = Copy(index, time.monotonic(), datetime.now(UTC))
    started, cpu = time.perf_counter(), time.process_time()
    for q in queries:
        await provider.ip_reputation(Lookup(IP_REPUTATION, q))
    return len(queries) / (time.perf_counter() - started), len(queries) / (time.process_time() - cpu)


def _radix(lines: list[str], queries: list[str]) -> dict[str, Any]:
    try:
        import radix  # type: ignore[import-not-found]
    except ImportError:
        return {"skipped": "py-radix is not installed"}
    tree = radix.Radix()
    started = time.perf_counter()
    for line in lines:
        tree.add(line.split()[0])
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    for q in queries:
        tree.search_best(q)
    return {"load_s": round(load_s, 2), "match_per_s": round(len(queries) / (time.perf_counter() - started))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=200_000)
    parser.add_argument("--compare-radix", action="store_true")
    args = parser.parse_args()
    print(json.dumps(bench(args.entries, args.lookups, args.compare_radix), indent=2))


if __name__ == "__main__":
    main()
