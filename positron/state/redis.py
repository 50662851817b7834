"""The process's one Redis client, guarded so that Redis trouble never fails or stalls a request.

Three deployments, by the scheme of ``redis.url`` (``redis_client`` builds the matching redis-py client):

    redis://[:password@]host:6379/0, rediss://…          one server (or a managed endpoint)
    redis+sentinel://[:password@]h1:26379,h2:26379/mymaster[/db]
                                                          the master Sentinel names, followed across failovers
    redis+cluster://[:password@]h1:7000,h2:7001           Redis Cluster: keys one command touches together share
                                                          a hash tag (see ``cache.cache_key``)

Every command has a socket and connect timeout and no client-side retries (one on a cluster, see
``redis_client``). Redis is marked *down* only when it is gone, not when one reply was late: a connection error
(refused, reset, closed) marks it down at once; a timeout (which is also what a busy event loop looks like: the
reply waits in the socket while the loop is late) only counts, and ``failures`` consecutive ones spread over at
least ``timeout_s`` mark it down (commands that all waited through the same slow moment, e.g. a burst of new
connections on a loaded machine, time out together and count as one moment). Any success resets the count.
While down, callers use their per-process fallbacks (a cache miss, local limits, in-process single-flight)
without touching the network; a background task pings Redis every ``retry_s`` and marks it up again when it
answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeout

from positron.config import RedisConfig
from positron.errors import ConfigError
from positron.telemetry.metrics import Metrics

log = logging.getLogger(__name__)

# What a Redis call can raise when the server is gone, slow or confused.
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
MAX_CONNECTIONS = 256  # per process; one command per request at a time, so this bounds concurrent Redis work
SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster")


@dataclass(frozen=True, slots=True)
class RedisUrl:
    """A parsed ``redis.url``; ``mode`` is basic, sentinel or cluster. Never printed: it may hold a password."""

    mode: str
    url: str
    nodes: list[tuple[str, int]]
    password: str | None
    username: str | None
    service: str
    db: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> RedisUrl:
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in SCHEMES:
            raise ConfigError("must start with one of " + ", ".join(f"{s}://" for s in SCHEMES), key="redis.url")
        tls = scheme.startswith("rediss")
        if "+" not in scheme:
            return cls("basic", url, [], None, None, "", 0, tls)
        auth, _, hosts = rest.rpartition("@")
        user, _, password = auth.partition(":") if auth else ("", "", "")
        netloc, _, path = hosts.partition("/")
        try:
            nodes = [(host.strip("[]"), int(port)) for host, _, port in (n.rpartition(":") for n in netloc.split(","))]
            parts = [p for p in path.split("/") if p]
            db = int(parts[1]) if len(parts) > 1 else 0
        except ValueError:
            raise ConfigError("give host:port pairs separated by commas", key="redis.url") from None
        mode = scheme.split("+")[1]
        if mode == "sentinel" and not parts:
            raise ConfigError("a Sentinel URL ends with the master's service name: /mymaster", key="redis.url")
        return cls(mode, url, nodes, unquote(password) or None, unquote(user) or None, parts[0] if parts else "",
                   db, tls)  # fmt: skip


def redis_client(parsed: RedisUrl, timeout: float) -> Redis | RedisCluster:
    """The redis-py client for the URL's deployment, with the same timeouts and no retries in every mode."""
    common: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
        "password": parsed.password,
        "username": parsed.username,
    }
    if parsed.mode == "cluster":
        nodes = [ClusterNode(host, port) for host, port in parsed.nodes]
        # One retry: the cluster client re-reads the slot map on a connection error or MOVED (a failover, a
        # resharding, or its own first connections, which it replaces once it knows the cluster).
        common["retry"] = Retry(NoBackoff(), 1)
        return RedisCluster(startup_nodes=nodes, ssl=parsed.tls, max_connections=MAX_CONNECTIONS, **common)
    if parsed.mode == "sentinel":
        sentinel = Sentinel(parsed.nodes, sentinel_kwargs={"socket_timeout": timeout, "password": parsed.password},
                            **common)  # type: ignore[no-untyped-call]  # fmt: skip
        master: Redis = sentinel.master_for(parsed.service, db=parsed.db, ssl=parsed.tls)
        return master
    pool = BlockingConnectionPool.from_url(
        parsed.url,
        max_connections=MAX_CONNECTIONS,
        timeout=timeout,  # waiting for a free connection counts as a slow Redis too
        health_check_interval=0,
        **{k: v for k, v in common.items() if k in ("socket_timeout", "socket_connect_timeout", "retry")},
    )
    return Redis(connection_pool=pool)


def is_slow(exc: BaseException) -> bool:
    """A timeout (a slow server, or a late event loop), as opposed to a server that is gone."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, TimeoutError | RedisTimeout):
            return True
        cause = cause.__cause__  # e.g. "No connection available" from a pool wait that timed out
    return False


class RedisState:
    def __init__(self, config: RedisConfig, metrics: Metrics | None = None) -> None:
        assert config.url is not None
        self.config = config
        self.url = RedisUrl.parse(config.url.get_secret_value())
        self.client: Any = redis_client(self.url, config.timeout_s)  # Redis | RedisCluster: same commands
        self.cluster = isinstance(self.client, RedisCluster)
        self.prefix = config.prefix
        self.retry_s = config.retry_s
        self.failures = config.failures
        self.up = True
        self.slow = 0  # consecutive timeouts
        self._slow_since = 0.0  # when the first of them happened
        self.metrics = metrics
        self._probe: asyncio.Task[None] | None = None
        if metrics is not None:
            metrics.redis_up.set(1)

    async def open(self) -> None:
        """Learn a cluster's slot map before the first request (its client would otherwise do it lazily, under
        the first burst of concurrent commands, which redis-py's cluster client does not survive well)."""
        if not self.cluster:
            return
        try:
            await self.client.initialize()
        except REDIS_ERRORS as exc:
            self.failed("connect", exc)

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def ok(self) -> None:
        """A command succeeded: earlier timeouts were a slow moment, not an outage."""
        self.slow = 0

    def failed(self, operation: str, exc: BaseException) -> None:
        """A command failed: count it; a connection error, or ``failures`` timeouts in a row, mean Redis is down."""
        if self.metrics is not None:
            self.metrics.redis_error(operation)
        if not self.up:
            return
        if is_slow(exc):
            now = time.monotonic()
            if self.slow == 0:
                self._slow_since = now
            self.slow += 1
            if self.slow < self.failures or now - self._slow_since < self.config.timeout_s:
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
                if not self.cluster:
                    await self.client.connection_pool.disconnect()  # pooled sockets died with the old server
                await self.client.ping()
            except REDIS_ERRORS:
                continue
            self.up, self.slow = True, 0
            if self.metrics is not None:
                self.metrics.redis_up.set(1)
            log.warning("redis is back: shared cache, limits and single-flight resumed")

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None
        try:
            await self.client.aclose()
            if not self.cluster:
                await self.client.connection_pool.disconnect()  # a pool given to Redis() is not closed with it
            sentinels = getattr(getattr(self.client, "connection_pool", None), "sentinel_manager", None)
            for sentinel in sentinels.sentinels if sentinels is not None else []:
                await sentinel.aclose()  # the clients that asked Sentinel where the master is
        except REDIS_ERRORS:
            pass
