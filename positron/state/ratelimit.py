"""Rate limits per provider instance (e.g. VirusTotal's public 4/minute and 500/day), as moving windows.

A configured ``{requests: N, per_s: S}`` guarantees at most N calls in *any* window of S seconds, across every
replica sharing Redis: each call is a timestamp in a window (the ``limits`` library's moving-window strategy, in
its memory storage or its Redis storage, where one Lua call checks and records atomically). A token bucket does
not give that guarantee (it refills continuously, so 4/60 s let 7 calls through in 60 s).

``acquire`` records a call in each of the instance's windows. When one is full it waits, if the wait fits in the
time the request has left (then tries again); otherwise it raises ProviderRateLimited with ``retry_after`` = the
time until the oldest call in the full window leaves it, which is when a slot truly frees. With several windows,
all are checked before any is recorded; two replicas racing for the last slot may each record one window and fail
the other, which wastes a slot and never lets an extra call through. An upstream 429 with Retry-After
``pause``s the instance (everywhere, through Redis).

Windows are in whole seconds (the library's granularity); timestamps are each replica's clock, so replicas'
clocks should agree to well under a second (NTP). While Redis is unreachable the process's own windows hold the
limit for this replica.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisClusterStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from positron.errors import ProviderRateLimited
from positron.provider import RateLimit
from positron.state.redis import REDIS_ERRORS, RedisState

MIN_WAIT_S = 0.001  # a window reported full whose slot frees "now": try again after this long


@dataclass(frozen=True, slots=True)
class Quota:
    requests: int
    per_s: float
    remaining: int


@dataclass(frozen=True, slots=True)
class QuotaReport:
    buckets: list[Quota]
    paused_s: float  # > 0 while an upstream 429 pauses the instance


class Limiter(Protocol):
    async def acquire(self, budget_s: float) -> float:
        """Record a call within ``budget_s`` seconds; returns how long it waited."""
        ...

    async def pause(self, seconds: float) -> None: ...

    async def report(self) -> QuotaReport: ...


def window(limit: RateLimit) -> RateLimitItem:
    return RateLimitItemPerSecond(limit.requests, int(limit.per_s))


class Windows:
    """One instance's moving windows in one storage, and its pause (kept by the subclass)."""

    def __init__(self, instance: str, limits: Sequence[RateLimit], strategy: MovingWindowRateLimiter) -> None:
        self.instance = instance
        self.limits = list(limits)
        self.items = [window(lim) for lim in self.limits]
        self.strategy = strategy

    async def paused_for(self) -> float:
        raise NotImplementedError

    async def try_take(self) -> float:
        """0 when a call was recorded in every window; else seconds until the pause ends or a slot frees."""
        paused = await self.paused_for()
        if paused > 0:
            return paused
        if len(self.items) > 1:  # look before recording, so a full window does not waste the others' slots
            for item in self.items:
                if not await self.strategy.test(item, self.instance):
                    return await self.wait_time()
        for item in self.items:
            if not await self.strategy.hit(item, self.instance):
                return await self.wait_time()
        return 0.0

    async def wait_time(self) -> float:
        """Until the oldest call of each full window leaves it: when a slot really frees."""
        now, waits = time.time(), [MIN_WAIT_S]
        for item in self.items:
            stats = await self.strategy.get_window_stats(item, self.instance)
            if stats.remaining <= 0:
                waits.append(stats.reset_time - now)
        return max(waits)

    async def report(self) -> QuotaReport:
        stats = [await self.strategy.get_window_stats(item, self.instance) for item in self.items]
        pairs = zip(self.limits, stats, strict=True)
        quotas = [Quota(lim.requests, lim.per_s, max(0, s.remaining)) for lim, s in pairs]
        return QuotaReport(quotas, round(max(0.0, await self.paused_for()), 3))


class LocalWindows(Windows):
    """The windows in this process (the ``limits`` memory storage)."""

    def __init__(self, instance: str, limits: Sequence[RateLimit], storage: MemoryStorage | None = None) -> None:
        super().__init__(instance, limits, MovingWindowRateLimiter(storage or MemoryStorage()))
        self._paused_until = 0.0

    def pause_now(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def paused_for(self) -> float:
        return self._paused_until - time.monotonic()


class RedisWindows(Windows):
    """The windows in Redis, shared by every replica; the pause is one key with a TTL."""

    def __init__(self, redis: RedisState, instance: str, limits: Sequence[RateLimit], storage: Any) -> None:
        super().__init__(instance, limits, MovingWindowRateLimiter(storage))
        self.redis = redis
        self.pause_key = redis.key("rl", instance, "pause")

    async def paused_for(self) -> float:
        left_ms = await self.redis.client.pttl(self.pause_key)
        return max(0.0, int(left_ms) / 1000)

    async def pause(self, seconds: float) -> None:
        """Extends, never shortens, a pause."""
        ms = max(1, int(seconds * 1000))
        if int(await self.redis.client.pttl(self.pause_key)) < ms:
            await self.redis.client.set(self.pause_key, b"1", px=ms)


class WindowLimiter:
    """An instance's limits: in Redis when there is one (falling back to the local windows while it is down),
    else in this process."""

    def __init__(self, local: LocalWindows, shared: RedisWindows | None = None) -> None:
        self.local = local
        self.shared = shared
        self._empty = not local.items

    async def _attempt(self) -> float:
        shared = self.shared
        if shared is not None and shared.redis.up:
            try:
                wait = await shared.try_take()
            except REDIS_ERRORS as exc:
                shared.redis.failed("ratelimit", exc)
            else:
                shared.redis.ok()
                return wait
        return await self.local.try_take()

    async def acquire(self, budget_s: float) -> float:
        if self._empty and await self.local.paused_for() <= 0 and self.shared is None:
            return 0.0
        waited = 0.0
        while (wait := await self._attempt()) > 0:
            if waited + wait > budget_s:
                raise ProviderRateLimited("rate limit reached", retry_after=round(wait, 3))
            await asyncio.sleep(wait)
            waited += wait
        return waited

    async def pause(self, seconds: float) -> None:
        """An upstream 429 with Retry-After: no calls (from any replica) until it passes."""
        self.local.pause_now(seconds)
        shared = self.shared
        if shared is not None and shared.redis.up:
            try:
                await shared.pause(seconds)
            except REDIS_ERRORS as exc:
                shared.redis.failed("ratelimit_pause", exc)

    async def report(self) -> QuotaReport:
        shared = self.shared
        if shared is not None and shared.redis.up:
            try:
                return await shared.report()
            except REDIS_ERRORS as exc:
                shared.redis.failed("ratelimit_report", exc)
        return await self.local.report()


def redis_windows_storage(redis: RedisState) -> Any:
    """The ``limits`` Redis storage on the same server(s) as ``redis``, keys under ``{prefix}:rl``.

    One server and Sentinel share the process's connection pool; a cluster gets the library's own cluster client
    for the same nodes, with the same timeouts."""
    prefix = redis.key("rl")
    if not redis.cluster:
        return RedisStorage("async+redis://", implementation="redispy", key_prefix=prefix,
                            connection_pool=redis.client.connection_pool)  # fmt: skip
    url = redis.url
    nodes = ",".join(f"{host}:{port}" for host, port in url.nodes)
    options: dict[str, Any] = {"socket_timeout": redis.config.timeout_s, "ssl": url.tls,
                               "socket_connect_timeout": redis.config.timeout_s}  # fmt: skip
    options.update({k: v for k, v in (("password", url.password), ("username", url.username)) if v})
    return RedisClusterStorage(f"async+redis+cluster://{nodes}", implementation="redispy", key_prefix=prefix,
                               **options)  # fmt: skip


RateLimiter = WindowLimiter
