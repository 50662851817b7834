"""The state an engine keeps between requests, and where it lives: in this process (the default) or in Redis,
shared by every replica, when ``redis.url`` is configured.

    cache       MemoryCache (bounded LRU)       | RedisCache (one MGET per request)
    flights     LocalFlights (in-process)       | RedisFlights (in-process, then a Redis lock + hand-off)
    limiters    moving windows in memory        | moving windows in Redis (``limits``), local windows as fallback

Circuit breakers stay per process (``circuit.py``). Every Redis-backed part falls back to its local behaviour
while Redis is unreachable (``redis.py``); Redis may be one server, a Sentinel set or a Cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from positron.config import RedisConfig
from positron.provider import RateLimit
from positron.state.cache import AnswerCache, MemoryCache, RedisCache
from positron.state.ratelimit import Limiter, LocalWindows, RedisWindows, WindowLimiter, redis_windows_storage
from positron.state.redis import REDIS_ERRORS, RedisState
from positron.state.singleflight import Flights, LocalFlights, RedisFlights
from positron.telemetry.metrics import Metrics


@dataclass(slots=True)
class State:
    cache: AnswerCache | None = None
    flights: Flights = field(default_factory=LocalFlights)
    redis: RedisState | None = None
    metrics: Metrics | None = None
    _windows: Any = None  # the limits library's Redis storage, built with the first limiter

    def limiter(self, instance: str, limits: Sequence[RateLimit]) -> Limiter:
        local = LocalWindows(instance, limits)
        if self.redis is None:
            return WindowLimiter(local)
        if self._windows is None:
            self._windows = redis_windows_storage(self.redis)
        return WindowLimiter(local, RedisWindows(self.redis, instance, limits, self._windows))

    async def open(self) -> None:
        """Connect ahead of the first request (a cluster's slot map, the limits storage's scripts)."""
        if self.redis is not None:
            await self.redis.open()
        if self.redis is not None and self.redis.up and self._windows is not None:
            try:
                await self._windows.check()
            except REDIS_ERRORS as exc:
                self.redis.failed("connect", exc)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.close()
        if self.redis is not None and self.redis.cluster and self._windows is not None:
            await self._windows.bridge.storage.aclose()  # the limits cluster storage's own client


def memory_state(cache_entries: int = 10_000, metrics: Metrics | None = None) -> State:
    cache = MemoryCache(cache_entries) if cache_entries else None
    return State(cache, LocalFlights(metrics), None, metrics)


def redis_state(config: RedisConfig, *, cache: bool = True, metrics: Metrics | None = None) -> State:
    redis = RedisState(config, metrics)
    store = RedisCache(redis, config.local_cache_s) if cache else None
    return State(store, RedisFlights(redis, metrics), redis, metrics)


def build_state(redis: RedisConfig, cache_entries: int, metrics: Metrics | None = None) -> State:
    """From settings: Redis when a url is configured (``cache_entries: 0`` still turns caching off)."""
    if redis.url is None:
        return memory_state(cache_entries, metrics)
    return redis_state(redis, cache=cache_entries > 0, metrics=metrics)
