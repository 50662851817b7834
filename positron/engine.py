"""The engine owns time: it fans one lookup out to every instance answering the query, concurrently, under one
deadline, with a timeout per provider, retries for transient errors while time remains, and cancellation of
stragglers. Every instance ends with a status; partial results are normal; nothing a provider does raises here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import stamina

from positron.cache import AnswerCache, cache_key, config_fingerprint
from positron.config import EngineConfig
from positron.errors import InvalidInput, ProviderError, ProviderRateLimited, ProviderTimeout, UnknownProvider
from positron.merge import Merged, Sourced, merge
from positron.provider import Provider
from positron.query import Answer, Lookup, Query
from positron.ratelimit import RateLimiter

log = logging.getLogger(__name__)

Status = Literal["ok", "no_data", "error", "timeout", "rate_limited", "skipped"]


@dataclass(slots=True)
class ProviderStatus:
    name: str
    type: str
    status: Status
    elapsed_ms: float = 0.0
    cached: bool = False
    age_s: float | None = None
    error: str | None = None
    error_code: str | None = None
    retry_after: float | None = None


@dataclass(slots=True)
class QueryResult:
    query: Query[Any]
    value: str
    at: datetime | None
    merged: Merged
    providers: list[ProviderStatus]
    took_ms: float


@dataclass(slots=True)
class Instance:
    """A provider instance with the engine's per-instance state."""

    provider: Provider[Any]
    fingerprint: str
    limiter: RateLimiter
    slots: asyncio.Semaphore
    healthy: bool = True
    calls: int = field(default=0)

    @property
    def name(self) -> str:
        return self.provider.name


def _is_transient(exc: Exception) -> bool:
    return isinstance(exc, ProviderError) and exc.transient


class Engine:
    def __init__(
        self, providers: Sequence[Provider[Any]], config: EngineConfig, cache: AnswerCache | None = None
    ) -> None:
        self.config = config
        self.cache = cache
        self.instances: dict[str, Instance] = {
            p.name: Instance(
                p,
                config_fingerprint(p.config),
                RateLimiter(p.config.rate_limits),
                asyncio.Semaphore(p.config.max_concurrency),
            )
            for p in providers
            if p.config.enabled
        }
        self._stragglers: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Open every instance; one that fails to open stays configured but is reported unhealthy."""
        for inst in self.instances.values():
            try:
                await inst.provider.open()
            except Exception as exc:
                inst.healthy = False
                log.error("provider %s failed to open: %s", inst.name, _safe(exc))

    async def close(self) -> None:
        for inst in self.instances.values():
            try:
                await inst.provider.aclose()
            except Exception as exc:
                log.warning("provider %s failed to close: %s", inst.name, _safe(exc))

    def answering(self, query: Query[Any]) -> list[Instance]:
        return [i for i in self.instances.values() if query.name in i.provider.serves()]

    def lookup(self, query: Query[Any], raw_value: str, at: datetime | None) -> Lookup:
        if at is not None and not query.accepts_at:
            raise InvalidInput(f"{query.name} does not take 'at' (it answers for now only)")
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return Lookup(query, query.normalize(raw_value), at)

    def _select(self, query: Query[Any], names: Sequence[str] | None) -> list[Instance]:
        serving = self.answering(query)
        if names is None:
            return serving
        by_name = {i.name: i for i in serving}
        for name in names:
            if name not in by_name:
                why = "is not configured" if name not in self.instances else f"does not answer {query.name}"
                raise UnknownProvider(f"provider {name!r} {why}")
        return [by_name[n] for n in dict.fromkeys(names)]

    async def run(
        self,
        query: Query[Any],
        raw_value: str,
        at: datetime | None = None,
        *,
        providers: Sequence[str] | None = None,
        no_cache: bool = False,
        skip: Mapping[str, str] | None = None,
    ) -> QueryResult:
        """Answer one query. ``skip`` maps instance names to a reason they must not be asked (e.g. denied)."""
        started = time.monotonic()
        lookup = self.lookup(query, raw_value, at)
        selected = self._select(query, providers)
        deadline = started + self.config.deadline_s
        tasks = {
            asyncio.create_task(self._call(inst, lookup, deadline, no_cache, (skip or {}).get(inst.name))): inst
            for inst in selected
        }
        done, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic())) if tasks else ((), ())
        results: list[tuple[ProviderStatus, list[Answer[Any]]]] = []
        for task, inst in tasks.items():
            if task in done:
                results.append(task.result())
            else:
                task.cancel()
                self._stragglers.add(task)
                task.add_done_callback(self._stragglers.discard)
                elapsed = (time.monotonic() - started) * 1000
                status = ProviderStatus(inst.name, inst.provider.type_name, "timeout", round(elapsed, 1))
                status.error, status.error_code = "request deadline reached", "deadline"
                results.append((status, []))
        items = [
            Sourced(st.name, st.type, self.instances[st.name].provider.config.weight_for(query), a)
            for st, answers in results
            for a in answers
        ]
        merged = merge(query, items, lookup.at or datetime.now(UTC), self.config.conflict_margin)
        took = round((time.monotonic() - started) * 1000, 1)
        return QueryResult(query, lookup.value, lookup.at, merged, [st for st, _ in results], took)

    async def _call(
        self, inst: Instance, lookup: Lookup, deadline: float, no_cache: bool, skip_reason: str | None
    ) -> tuple[ProviderStatus, list[Answer[Any]]]:
        started = time.monotonic()
        status = ProviderStatus(inst.name, inst.provider.type_name, "ok")
        answers: list[Answer[Any]] = []
        reason = skip_reason or inst.provider.skip_reason(lookup)
        if reason is not None:
            status.status, status.error, status.error_code = "skipped", reason, "skipped"
            return status, answers
        key = cache_key(lookup, inst.name, inst.fingerprint)
        try:
            cached = None if (no_cache or self.cache is None) else await self.cache.get(key)
            if cached is not None:
                answers, status.cached = cached.answers, True
                status.age_s = round(max(0.0, time.time() - cached.stored_at), 3)
            else:
                answers = await self._ask(inst, lookup, deadline)
                if self.cache is not None:
                    ttl = lookup.query.cache_ttl_s if answers else lookup.query.no_data_ttl_s
                    await self.cache.set(key, answers, ttl)
            status.status = "ok" if answers else "no_data"
        except ProviderError as exc:
            status.status, status.error, status.error_code = exc.status, exc.message, exc.code  # type: ignore[assignment]
            if isinstance(exc, ProviderRateLimited):
                status.retry_after = exc.retry_after
            answers = []
        except Exception as exc:  # a provider bug must not become a 500 or hide the other answers
            log.error("provider %s raised %s", inst.name, type(exc).__name__)
            status.status, status.error, status.error_code = (
                "error",
                "provider failed unexpectedly",
                "internal",
            )
            answers = []
        status.elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        return status, answers

    async def _ask(self, inst: Instance, lookup: Lookup, deadline: float) -> list[Answer[Any]]:
        """One attempt; on a transient error, more attempts with backoff while the deadline allows."""
        timeout_s = inst.provider.config.timeout_s
        try:
            return await self._attempt(inst, lookup, min(deadline, time.monotonic() + timeout_s))
        except ProviderError as exc:
            if not exc.transient or self.config.retries == 0:
                raise
        retrying = stamina.retry_context(
            on=_is_transient,
            attempts=self.config.retries,
            timeout=max(0.001, deadline - time.monotonic()),
            wait_initial=self.config.retry_backoff_s,
            wait_max=1.0,
        )
        async for attempt in retrying:
            with attempt:
                await asyncio.sleep(self.config.retry_backoff_s if attempt.num == 1 else 0)
                return await self._attempt(inst, lookup, min(deadline, time.monotonic() + timeout_s))
        raise AssertionError("unreachable: stamina raises after the last attempt")

    async def _attempt(self, inst: Instance, lookup: Lookup, until: float) -> list[Answer[Any]]:
        try:
            await inst.limiter.acquire(budget_s=until - time.monotonic())
            async with asyncio.timeout(max(0.0, until - time.monotonic())):
                async with inst.slots:
                    inst.calls += 1
                    return await inst.provider.ask(lookup)
        except TimeoutError:
            raise ProviderTimeout(f"no answer within {inst.provider.config.timeout_s:g} s") from None
        except ProviderRateLimited as exc:
            if exc.retry_after:
                inst.limiter.pause(exc.retry_after)
            raise


def _safe(exc: BaseException) -> str:
    """What may be logged about an exception: our own messages, else only its type."""
    return exc.message if isinstance(exc, ProviderError) else type(exc).__name__
