"""(a)–(c), (e): Positron against its references, side by side in one run.

Every server runs in its own process on 127.0.0.1 (pinned to one CPU when there are two or more, see
``procs.Placement``); wrk drives them from another process. The servers are measured in alternating rounds
(A B C, B C A, ...) and each figure is the median over rounds, so a noisy neighbour hits them all alike.

- (a) latency: one query at a time over 4 upstreams of 20 ms: Positron (4 virustotal instances) vs the raw
  aiohttp fan-out, plus the same over 4 in-process providers and a bare FastAPI endpoint that sleeps 20 ms.
- (b) throughput at 50 connections, every request a cache miss (a fresh hash each): Positron / raw.
- (c) cache hits (one hash, warmed): Positron with its in-memory cache (and Redis when configured) / a bare
  FastAPI endpoint answering a constant. Positron's requests are authenticated; the bare app checks nothing.
- (e) the broker's peak RSS (VmHWM) after (a) and (b).
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench import load, procs, profile
from bench.server import BENCH_KEY, UPSTREAM_KEY

QUERY = "/v1/queries/HASH_REPUTATION"
PROVIDERS = 4
LATENCY_S = 0.02


@dataclass
class Settings:
    rounds: int = 3
    seconds: float = 5.0
    connections: int = 50
    concurrency_limit: int = 64  # max_concurrency of each virustotal instance (and its connector limit)


@dataclass
class Series:
    """One target's results over the rounds."""

    name: str
    runs: list[load.LoadResult] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # the server's CPU time per request, per run

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)

    @property
    def cpu_ms_per_request(self) -> float:
        return statistics.median(self.cpu_ms)

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)


@dataclass(frozen=True)
class Target:
    name: str
    proc: procs.Proc
    path: str
    mode: str = "vary"
    method: str = "POST"
    key: str | None = BENCH_KEY


def compare(targets: list[Target], connections: int, s: Settings, cpus: frozenset[int] | None) -> dict[str, Series]:
    """Each target ``s.rounds`` times for ``s.seconds`` at ``connections``, in rotating order, after a warm-up."""
    series = {t.name: Series(t.name) for t in targets}
    for t in targets:
        _run(t, connections, 1.0, cpus)
    for r in range(s.rounds):
        for t in targets[r % len(targets) :] + targets[: r % len(targets)]:
            cpu_before = t.proc.cpu_s()
            result = _run(t, connections, s.seconds, cpus)
            series[t.name].runs.append(result)
            series[t.name].cpu_ms.append((t.proc.cpu_s() - cpu_before) * 1000 / max(1, result.requests))
    return series


def _run(t: Target, connections: int, seconds: float, cpus: frozenset[int] | None) -> load.LoadResult:
    url = t.proc.base_url + t.path
    return load.run(url, connections=connections, seconds=seconds, mode=t.mode, method=t.method, key=t.key, cpus=cpus)


def check_positron(base: str, expect_ok: int) -> None:
    """One request through Positron: every provider must answer ok (else the benchmark measures errors)."""
    r = httpx.post(base + QUERY, json={"value": load.FIXED_HASH}, headers={"Authorization": f"Bearer {BENCH_KEY}"})
    statuses = [p["status"] for p in r.json().get("providers", [])] if r.status_code == 200 else []
    if statuses.count("ok") != expect_ok:
        raise RuntimeError(f"Positron is not answering as expected: HTTP {r.status_code} {r.text[:500]}")


@contextmanager
def _servers(
    s: Settings, place: procs.Placement, redis_url: str | None
) -> Iterator[tuple[dict[str, procs.Proc], list[str]]]:
    with ExitStack() as stack:
        urls = stack.enter_context(procs.upstreams(PROVIDERS, LATENCY_S, UPSTREAM_KEY, place.load))
        vt = ["vt", str(s.concurrency_limit), *urls]
        run: dict[str, list[str]] = {
            "positron": ["bench.server", *vt],
            "positron_16": ["bench.server", "vt", "16", *urls],  # the default max_concurrency (connector limit)
            "raw": ["bench.apps", "raw", BENCH_KEY, UPSTREAM_KEY, *urls],
            "raw_asgi": ["bench.apps", "raw-asgi", BENCH_KEY, UPSTREAM_KEY, *urls],
            "bare": ["bench.apps", "bare"],
            "sleepy": ["bench.server", "sleepy", str(PROVIDERS), str(LATENCY_S), "--no-cache"],
        }
        if redis_url is not None:
            run["positron_redis"] = ["bench.server", *vt, "--redis", redis_url]
        servers = {name: stack.enter_context(procs.server(args, place.server)) for name, args in run.items()}
        for name in ("positron", "positron_16", "positron_redis"):
            if name in servers:
                check_positron(servers[name].base_url, PROVIDERS)
        yield servers, urls


def measure(s: Settings, place: procs.Placement, redis_url: str | None = None) -> dict[str, Any]:
    with _servers(s, place, redis_url) as (p, urls):
        start_rss = p["positron"].memory_kib()
        one = [
            Target("positron", p["positron"], QUERY),
            Target("raw", p["raw"], QUERY),
            Target("raw_asgi", p["raw_asgi"], QUERY),
            Target("sleepy", p["sleepy"], "/v1/queries/IP_TO_HOSTNAME", mode="ip"),
            Target("bare_sleep", p["bare"], "/sleep", mode="none", method="GET", key=None),
        ]
        a = compare(one, 1, s, place.load)
        b = compare([*one[:3], Target("positron_16", p["positron_16"], QUERY)], s.connections, s, place.load)
        peak_rss = p["positron"].memory_kib()
        upstream = [httpx.get(f"{url}/_stats").json() for url in urls]
        hits = [Target("positron", p["positron"], QUERY, mode="fixed")]
        if "positron_redis" in p:
            hits.append(Target("positron_redis", p["positron_redis"], QUERY, mode="fixed"))
        c = compare([*hits, Target("bare", p["bare"], QUERY, mode="fixed", key=None)], s.connections, s, place.load)
        profiles = {"b": _profile(one[0], s, place), "c": _profile(hits[0], s, place)}
    return {
        "a": a,
        "b": b,
        "c": c,
        "rss_start_kib": start_rss["VmRSS"],
        "rss_peak_kib": peak_rss["VmHWM"],
        "upstream": upstream,
        "profiles": profiles,
    }


def _profile(t: Target, s: Settings, place: procs.Placement) -> dict[str, float] | None:
    """py-spy on Positron during one more (unmeasured) run at ``s.connections``."""
    seconds = max(3.0, s.seconds)
    driver = threading.Thread(target=_run, args=(t, s.connections, seconds + 2, place.load))
    driver.start()
    try:
        return profile.record(t.proc.pid, seconds)
    finally:
        driver.join()
