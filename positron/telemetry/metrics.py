"""Prometheus metrics of one broker (one registry per broker, so several brokers in one process never collide).

    positron_provider_call_seconds{provider,query}          histogram of upstream calls (cache hits excluded)
    positron_provider_status_total{provider,query,status}   every instance outcome, cached or not
    positron_cache_requests_total{provider,result}          result = hit | miss
    positron_singleflight_joins_total{provider,scope}       scope = process | cluster
    positron_ratelimit_waits_total{provider}                calls that waited for a token
    positron_ratelimit_wait_seconds{provider}               how long they waited
    positron_circuit_state{provider}                        0 closed, 1 half-open, 2 open
    positron_redis_errors_total{operation}                  Redis commands that failed (fallback used)
    positron_redis_up                                       1 while Redis answers, 0 while it is bypassed
                                                            (both only when redis.url is configured)
    positron_http_requests_total{route,method,status}       HTTP requests by route template (not the raw path)
    positron_http_request_seconds{route,method}             their latency
    positron_refused_keys_total                             requests refused for a missing, wrong or expired key
    positron_denials_total{event}                           requests (or batch items) the access policy denied

Children are bound once per label set and kept in plain dicts: the hot path does a dict lookup and an ``inc()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CIRCUIT_VALUES = {"closed": 0, "half_open": 1, "open": 2}


class Metrics:
    """``redis``: whether Redis is configured; without it the Redis metrics exist (unregistered) but are not
    exposed, so a single replica does not report ``positron_redis_up 0``."""

    def __init__(self, *, redis: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.call_seconds = Histogram(
            "positron_provider_call_seconds",
            "Latency of provider calls (cache hits excluded)",
            ["provider", "query"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.status = Counter(
            "positron_provider_status", "Provider outcomes per request", ["provider", "query", "status"], registry=r
        )
        self.cache = Counter("positron_cache_requests", "Cache lookups", ["provider", "result"], registry=r)
        self.joins = Counter(
            "positron_singleflight_joins",
            "Calls that joined an identical call in flight",
            ["provider", "scope"],
            registry=r,
        )
        self.waits = Counter(
            "positron_ratelimit_waits", "Calls that waited for a rate-limit token", ["provider"], registry=r
        )
        self.wait_seconds = Histogram(
            "positron_ratelimit_wait_seconds",
            "Time spent waiting for a token",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.circuit = Gauge("positron_circuit_state", "0 closed, 1 half-open, 2 open", ["provider"], registry=r)
        rr = r if redis else None
        self.redis_errors = Counter("positron_redis_errors", "Failed Redis operations", ["operation"], registry=rr)
        self.redis_up = Gauge("positron_redis_up", "1 while Redis is used, 0 while bypassed", registry=rr)
        self.http_requests = Counter(
            "positron_http_requests", "HTTP requests by route template", ["route", "method", "status"], registry=r
        )
        self.http_seconds = Histogram(
            "positron_http_request_seconds",
            "HTTP request latency by route template",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.refused_keys = Counter(
            "positron_refused_keys", "Requests refused for a missing, wrong or expired API key", registry=r
        )
        self.denials = Counter("positron_denials", "Requests the access policy denied", ["event"], registry=r)
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def outcome(self, provider: str, query: str, status: str) -> None:
        self._child(self.status, provider, query, status).inc()

    def cache_result(self, provider: str, hit: bool) -> None:
        self._child(self.cache, provider, "hit" if hit else "miss").inc()

    def call(self, provider: str, query: str, seconds: float) -> None:
        self._child(self.call_seconds, provider, query).observe(seconds)

    def joined(self, provider: str, scope: str) -> None:
        self._child(self.joins, provider, scope).inc()

    def waited(self, provider: str, seconds: float) -> None:
        self._child(self.waits, provider).inc()
        self._child(self.wait_seconds, provider).observe(seconds)

    def circuit_state(self, provider: str, state: str) -> None:
        self._child(self.circuit, provider).set(CIRCUIT_VALUES[state])

    def redis_error(self, operation: str) -> None:
        self._child(self.redis_errors, operation).inc()

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self._child(self.http_requests, route, method, str(status)).inc()
        self._child(self.http_seconds, route, method).observe(seconds)

    def audited(self, event: str, record: Mapping[str, Any]) -> None:
        """Counts refused keys and denials from the audit records (every one is audited, whatever the surface)."""
        decision = record.get("decision")
        if decision == "unauthenticated":
            self.refused_keys.inc()
        elif decision == "denied":
            self._child(self.denials, event).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
