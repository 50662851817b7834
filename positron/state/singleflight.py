"""Single-flight: concurrent identical provider calls (same cache key) become one upstream call.

``LocalFlights`` coalesces inside the process: the first caller (the leader) calls the provider in its own task;
the others await its outcome, answers or error. If the leader is cancelled (its request's deadline passed), a
waiter that still has time takes over.

``RedisFlights`` adds the replicas: the process's leader takes a Redis lock (``{prefix}:sf:{key}``, holding a
random flight token, expiring with the deadline). Whoever holds it calls the provider and hands the outcome off
under ``{prefix}:sfr:{key}:{token}`` for a few seconds; the others poll for that flight's result (5 ms, doubling
to 50 ms; no hot-path cost, only callers that missed the cache and found a flight in progress poll). A result
belongs to one flight, so a waiter never picks up an error from an earlier one. Taking the lock also re-reads the
cache entry, closing the gap between a request's cache miss and a flight that just finished. All of a flight's
keys share the cache key's hash tag, so the scripts also run on a Redis Cluster.

A slow Redis is not a dead one: a command that times out while Redis is still up (see ``redis.py``) is simply
tried again at the next poll (taking the lock is idempotent for its own token), so a late reply on a busy event
loop never makes a second upstream call. Only once Redis is marked down does the process's own leader call the
provider without asking the other replicas.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from positron.errors import ProviderError, ProviderTimeout
from positron.query import Answer, Query
from positron.state.codec import DecodeError, decode_answers, decode_outcome, encode_outcome
from positron.state.redis import REDIS_ERRORS, RedisState
from positron.telemetry.metrics import Metrics

Call = Callable[[], Awaitable[list[Answer[Any]]]]
HANDOFF_TTL_MS = 5000
POLL_FIRST_S, POLL_MAX_S = 0.005, 0.05


class Flights(Protocol):
    async def run(
        self, key: str, query: Query[Any], provider: str, call: Call, deadline: float
    ) -> list[Answer[Any]]: ...


class _LeaderGone(Exception):
    """The leader was cancelled before it had an outcome."""


class _RedisGone(Exception):
    """Redis was marked down while a flight waited for it."""


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()  # retrieved: a leader's error with no waiters is not an "unretrieved exception"


class LocalFlights:
    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics
        self._flights: dict[str, asyncio.Future[list[Answer[Any]]]] = {}

    async def run(self, key: str, query: Query[Any], provider: str, call: Call, deadline: float) -> list[Answer[Any]]:
        while (flight := self._flights.get(key)) is not None:
            if self.metrics is not None:
                self.metrics.joined(provider, "process")
            try:
                return await asyncio.shield(flight)
            except _LeaderGone:
                continue
        return await self._lead(key, self._leader_call(key, query, provider, call, deadline))

    def _leader_call(self, key: str, query: Query[Any], provider: str, call: Call, deadline: float) -> Call:
        return call

    async def _lead(self, key: str, call: Call) -> list[Answer[Any]]:
        flight: asyncio.Future[list[Answer[Any]]] = asyncio.get_running_loop().create_future()
        flight.add_done_callback(_consume)
        self._flights[key] = flight
        try:
            answers = await call()
        except asyncio.CancelledError:
            flight.set_exception(_LeaderGone())
            raise
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        finally:
            del self._flights[key]
        flight.set_result(answers)
        return answers


# KEYS: lock, cache entry.  ARGV: token, lock ttl ms, hand-off key prefix, token of the flight waited for (or '').
# Returns {1, cache entry or false} when the lock was taken, else {0, a hand-off or false, the holder's token}.
_ACQUIRE_LUA = """
if ARGV[4] ~= '' then
  local done = redis.call('GET', ARGV[3] .. ARGV[4])
  if done then return {0, done, ARGV[4]} end
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('GET', KEYS[2]), ''}
end
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return {1, redis.call('GET', KEYS[2]), ''} end
if not holder then return {0, false, ''} end
return {0, redis.call('GET', ARGV[3] .. holder), holder}
"""

# KEYS: lock, hand-off.  ARGV: token, outcome (empty: none), hand-off ttl ms.
_FINISH_LUA = """
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


class RedisFlights(LocalFlights):
    def __init__(self, redis: RedisState, metrics: Metrics | None = None) -> None:
        super().__init__(metrics)
        self.redis = redis
        self._acquire = redis.client.register_script(_ACQUIRE_LUA)
        self._finish = redis.client.register_script(_FINISH_LUA)
        self._releases: set[asyncio.Task[None]] = set()

    def _leader_call(self, key: str, query: Query[Any], provider: str, call: Call, deadline: float) -> Call:
        return lambda: self._across_replicas(key, query, provider, call, deadline)

    async def _across_replicas(
        self, key: str, query: Query[Any], provider: str, call: Call, deadline: float
    ) -> list[Answer[Any]]:
        if not self.redis.up:
            return await call()
        token = secrets.token_hex(8)
        lock, handoff = self.redis.key("sf", key), self.redis.key("sfr", key, token)
        try:
            found = await self._wait_or_lead(key, query, provider, token, deadline)
        except _RedisGone:
            return await call()
        if found is not None:
            return found
        try:
            answers = await call()
        except ProviderError as exc:
            await self._hand_off(lock, handoff, token, encode_outcome(query, exc, time.time()))
            raise
        except BaseException:
            task = asyncio.create_task(self._hand_off(lock, handoff, token, b""))  # just release the lock
            self._releases.add(task)
            task.add_done_callback(self._releases.discard)
            raise
        await self._hand_off(lock, handoff, token, encode_outcome(query, answers, time.time()))
        return answers

    async def _wait_or_lead(
        self, key: str, query: Query[Any], provider: str, token: str, deadline: float
    ) -> list[Answer[Any]] | None:
        """None when this process now holds the lock; else the outcome of the flight in another replica."""
        keys = [self.redis.key("sf", key), self.redis.key("c", key)]
        lock_ms = str(int(max(0.0, deadline - time.monotonic()) * 1000) + 1000)
        prefix = self.redis.key("sfr", key) + ":"
        delay, holder = POLL_FIRST_S, b""
        while True:
            try:
                taken, blob, holder = await self._acquire(keys=keys, args=[token, lock_ms, prefix, holder or b""])
            except REDIS_ERRORS as exc:
                self.redis.failed("singleflight", exc)
                if not self.redis.up:
                    raise _RedisGone from exc
                taken, blob, holder = 0, None, holder  # slow, not gone: poll again
            else:
                self.redis.ok()
            if taken and blob is None:
                return None
            if blob is not None:
                try:
                    outcome = decode_answers(query, blob)[1] if taken else decode_outcome(query, blob)
                except DecodeError:
                    outcome = None
                if outcome is not None:
                    if taken:
                        await self._hand_off(keys[0], "", token, b"")
                    if self.metrics is not None:
                        self.metrics.joined(provider, "cluster")
                    if isinstance(outcome, ProviderError):
                        raise outcome
                    return outcome
                if taken:
                    return None
            if time.monotonic() + delay > deadline:
                raise ProviderTimeout("an identical call in another replica did not finish in time")
            await asyncio.sleep(delay)
            delay = min(delay * 2, POLL_MAX_S)

    async def _hand_off(self, lock: str, handoff: str, token: str, outcome: bytes) -> None:
        """Publish the outcome and release the lock; a timeout while Redis is up is tried once more (the script
        is idempotent), so waiters in other replicas are not left polling until their deadline."""
        for _ in range(2):
            try:
                await self._finish(keys=[lock, handoff or lock], args=[token, outcome, str(HANDOFF_TTL_MS)])
            except REDIS_ERRORS as exc:
                self.redis.failed("singleflight", exc)
                if self.redis.up:
                    continue
            else:
                self.redis.ok()
            return
