"""The process's one Redis connection pool, guarded so that Redis trouble never fails or stalls a request.

Every command has a short socket and connect timeout and no client-side retries. When one fails, ``failed()``
counts it, logs one warning for the outage and marks Redis *down*: callers check ``up`` first and use their
per-process fallback (a cache miss, local token buckets, in-process single-flight) without touching the
network. A background task pings Redis every ``retry_s`` and marks it up again when it answers.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from positron.config import RedisConfig
from positron.telemetry.metrics import Metrics

log = logging.getLogger(__name__)

# What a Redis call can raise when the server is gone, slow or confused.
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
MAX_CONNECTIONS = 256  # per process; one command per request at a time, so this bounds concurrent Redis work


class RedisState:
    def __init__(self, config: RedisConfig, metrics: Metrics | None = None) -> None:
        assert config.url is not None
        timeout = config.timeout_s
        pool = BlockingConnectionPool.from_url(
            config.url.get_secret_value(),
            max_connections=MAX_CONNECTIONS,
            timeout=timeout,  # waiting for a free connection counts as a slow Redis too
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self.client: Redis = Redis(connection_pool=pool)
        self.prefix = config.prefix
        self.retry_s = config.retry_s
        self.up = True
        self.metrics = metrics
        self._probe: asyncio.Task[None] | None = None
        if metrics is not None:
            metrics.redis_up.set(1)

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def failed(self, operation: str, exc: BaseException) -> None:
        """A command failed: count it, and on the first failure of an outage warn and switch to fallbacks."""
        if self.metrics is not None:
            self.metrics.redis_error(operation)
        if not self.up:
            return
        self.up = False
        if self.metrics is not None:
            self.metrics.redis_up.set(0)
        log.warning(
            "redis unavailable (%s during %s): using per-process cache, limits and single-flight until it is back",
            type(exc).__name__,
            operation,
        )
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._wait_for_recovery())

    async def _wait_for_recovery(self) -> None:
        while not self.up:
            await asyncio.sleep(self.retry_s)
            try:
                await self.client.connection_pool.disconnect()  # pooled sockets died with the old server
                await self.client.ping()
            except REDIS_ERRORS:
                continue
            self.up = True
            if self.metrics is not None:
                self.metrics.redis_up.set(1)
            log.warning("redis is back: shared cache, limits and single-flight resumed")

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None
        try:
            await self.client.aclose()
            await self.client.connection_pool.disconnect()  # a pool given to Redis() is not closed with it
        except REDIS_ERRORS:
            pass
