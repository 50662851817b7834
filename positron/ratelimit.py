"""Token buckets per provider instance (e.g. VirusTotal's public 4/minute and 500/day).

``acquire`` waits for a token when the wait fits in the time the request has left; otherwise it raises
ProviderRateLimited with ``retry_after``, which the engine reports as the instance's status.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from positron.errors import ProviderRateLimited
from positron.provider import RateLimit


class TokenBucket:
    def __init__(self, limit: RateLimit) -> None:
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


class RateLimiter:
    """All of one instance's buckets; a call needs a token from each."""

    def __init__(self, limits: Sequence[RateLimit]) -> None:
        self._buckets = [TokenBucket(limit) for limit in limits]
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        """An upstream 429 with Retry-After: no calls until it passes."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def remaining(self) -> list[int]:
        now = time.monotonic()
        for bucket in self._buckets:
            bucket._refill(now)
        return [int(b.tokens) for b in self._buckets]

    async def acquire(self, budget_s: float) -> None:
        if not self._buckets and self._paused_until == 0.0:
            return
        async with self._lock:
            now = time.monotonic()
            wait = max([self._paused_until - now] + [b.wait_time(now) for b in self._buckets])
            if wait > budget_s:
                raise ProviderRateLimited("rate limit reached", retry_after=round(wait, 3))
            if wait > 0:
                await asyncio.sleep(wait)
                now = time.monotonic()
                for bucket in self._buckets:
                    bucket.wait_time(now)
            for bucket in self._buckets:
                bucket.take()
