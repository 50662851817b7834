"""Token buckets per provider instance (e.g. VirusTotal's public 4/minute and 500/day).

``acquire`` reserves a token from each of the instance's buckets. When none is free it waits, if the wait fits in
the time the request has left; otherwise it raises ProviderRateLimited with ``retry_after``, which the engine
reports as the instance's status. Reservations may take a bucket below zero: callers queue up in order, and the
next one waits longer. An upstream 429 with Retry-After ``pause``s the instance.

``LocalLimiter`` keeps the buckets in this process. ``RedisLimiter`` keeps them in Redis, so every replica
draws from the same buckets (one Lua script call per provider call, timed by Redis's clock); while Redis is
unreachable it falls back to its local buckets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from positron.errors import ProviderRateLimited
from positron.provider import RateLimit
from positron.state.redis import REDIS_ERRORS, RedisState


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
        """Reserve a call within ``budget_s`` seconds; returns how long it waited."""
        ...

    async def pause(self, seconds: float) -> None: ...

    async def report(self) -> QuotaReport: ...


class TokenBucket:
    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.capacity = float(limit.requests)
        self.rate = limit.requests / limit.per_s  # tokens per second
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_time(self, now: float) -> float:
        self._refill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1.0


class LocalLimiter:
    """All of one instance's buckets in this process; a call needs a token from each."""

    def __init__(self, limits: Sequence[RateLimit]) -> None:
        self._buckets = [TokenBucket(limit) for limit in limits]
        self._paused_until = 0.0

    def pause_now(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def pause(self, seconds: float) -> None:
        """An upstream 429 with Retry-After: no calls until it passes."""
        self.pause_now(seconds)

    async def report(self) -> QuotaReport:
        now = time.monotonic()
        for bucket in self._buckets:
            bucket._refill(now)
        quotas = [Quota(b.limit.requests, b.limit.per_s, max(0, int(b.tokens))) for b in self._buckets]
        return QuotaReport(quotas, max(0.0, round(self._paused_until - now, 3)))

    async def acquire(self, budget_s: float) -> float:
        if not self._buckets and self._paused_until == 0.0:
            return 0.0
        now = time.monotonic()
        wait = max([self._paused_until - now] + [b.wait_time(now) for b in self._buckets])
        if wait > budget_s:
            raise ProviderRateLimited("rate limit reached", retry_after=round(wait, 3))
        for bucket in self._buckets:
            bucket.take()
        if wait > 0:
            await asyncio.sleep(wait)
        return max(0.0, wait)


RateLimiter = LocalLimiter  # the name the engine used before shared limits existed

# KEYS: pause key, then one key per bucket.  ARGV: mode (take|peek), budget_ms, then capacity, period_ms per bucket.
# Returns {taken (0|1), wait_ms, paused_ms, remaining per bucket...} as strings (Lua numbers would be truncated).
_BUCKETS_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local paused = tonumber(redis.call('GET', KEYS[1]) or '0') - now
if paused < 0 then paused = 0 end
local wait = paused
local tokens = {}
for i = 2, #KEYS do
  local cap = tonumber(ARGV[2 * i - 1])
  local rate = cap / tonumber(ARGV[2 * i])
  local b = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tk, ts = tonumber(b[1]), tonumber(b[2])
  if tk == nil or ts == nil then tk, ts = cap, now end
  tk = math.min(cap, tk + math.max(0, now - ts) * rate)
  tokens[i] = tk
  if tk < 1 and (1 - tk) / rate > wait then wait = (1 - tk) / rate end
end
local taken = 0
if ARGV[1] == 'take' and wait <= tonumber(ARGV[2]) then
  taken = 1
  for i = 2, #KEYS do
    tokens[i] = tokens[i] - 1
  end
end
local out = {tostring(taken), tostring(wait), tostring(paused)}
for i = 2, #KEYS do
  if ARGV[1] == 'take' then
    redis.call('HSET', KEYS[i], 'tokens', tostring(tokens[i]), 'ts', tostring(now))
    redis.call('PEXPIRE', KEYS[i], math.ceil(tonumber(ARGV[2 * i]) * 2))
  end
  out[#out + 1] = tostring(math.max(0, math.floor(tokens[i])))
end
return out
"""

# KEYS: pause key.  ARGV: pause_ms.  Extends, never shortens, a pause; in Redis's clock.
_PAUSE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local untl = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if untl > cur then redis.call('SET', KEYS[1], tostring(untl), 'PX', math.ceil(tonumber(ARGV[1]))) end
return 1
"""


class RedisLimiter:
    """One instance's buckets in Redis, shared by every replica; local buckets while Redis is away."""

    def __init__(self, redis: RedisState, instance: str, limits: Sequence[RateLimit]) -> None:
        self.redis = redis
        self.limits = list(limits)
        self.local = LocalLimiter(limits)
        self._keys = [redis.key("rl", instance, "pause")] + [
            redis.key("rl", instance, f"{lim.requests}/{lim.per_s:g}") for lim in self.limits
        ]
        self._periods = [x for lim in self.limits for x in (str(lim.requests), str(lim.per_s * 1000))]
        self._buckets = redis.client.register_script(_BUCKETS_LUA)
        self._pause = redis.client.register_script(_PAUSE_LUA)

    async def _run(self, mode: str, budget_s: float) -> tuple[bool, float, float, list[int]]:
        raw = await self._buckets(keys=self._keys, args=[mode, str(max(0.0, budget_s) * 1000), *self._periods])
        taken, wait_ms, paused_ms, *remaining = (float(x) for x in raw)
        return taken == 1, wait_ms / 1000, paused_ms / 1000, [int(r) for r in remaining]

    async def acquire(self, budget_s: float) -> float:
        if not self.redis.up:
            return await self.local.acquire(budget_s)
        try:
            taken, wait, _, _ = await self._run("take", budget_s)
        except REDIS_ERRORS as exc:
            self.redis.failed("ratelimit", exc)
            return await self.local.acquire(budget_s)
        if not taken:
            raise ProviderRateLimited("rate limit reached", retry_after=round(wait, 3))
        if wait > 0:
            await asyncio.sleep(wait)
        return wait

    async def pause(self, seconds: float) -> None:
        self.local.pause_now(seconds)
        if not self.redis.up:
            return
        try:
            await self._pause(keys=self._keys[:1], args=[str(seconds * 1000)])
        except REDIS_ERRORS as exc:
            self.redis.failed("ratelimit_pause", exc)

    async def report(self) -> QuotaReport:
        if self.redis.up:
            try:
                _, _, paused, remaining = await self._run("peek", 0.0)
                quotas = [Quota(lim.requests, lim.per_s, r) for lim, r in zip(self.limits, remaining, strict=True)]
                return QuotaReport(quotas, round(paused, 3))
            except REDIS_ERRORS as exc:
                self.redis.failed("ratelimit_report", exc)
        return await self.local.report()
