"""The state an engine keeps between requests, and where it lives: in this process (the default) or in Redis,
shared by every replica, when ``redis.url`` is configured.

    cache       MemoryCache (bounded LRU)       | RedisCache (one MGET per request)
    flights     LocalFlights (in-process)       | RedisFlights (in-process, then a Redis lock + hand-off)
    limiters    LocalLimiter per instance       | RedisLimiter per instance (Lua token buckets, local fallback)

Circuit breakers stay per process (``circuit.py``). Every Redis-backed part falls back to its local behaviour
while Redis is unreachable (``redis_state.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from positron.config import RedisConfig
from positron.provider import RateLimit
from positron.state.cache import AnswerCache, MemoryCache, RedisCache
from positron.state.ratelimit import Limiter, LocalLimiter, RedisLimiter
from positron.state.redis import RedisState
from positron.state.singleflight import Flights, LocalFlights, RedisFlights
from positron.telemetry.metrics import Metrics


@dataclass(slots=True)
class State:
    cache: AnswerCache | None = None
    flights: Flights = field(default_factory=LocalFlights)
    redis: RedisState | None = None
    metrics: Metrics | None = None

    def limiter(self, instance: str, limits: Sequence[RateLimit]) -> Limiter:
        if self.redis is None:
            return LocalLimiter(limits)
        return RedisLimiter(self.redis, instance, limits)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.close()


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
