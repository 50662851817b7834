"""The engine owns time: it fans one lookup out to every instance answering the query, concurrently, under one
deadline, with retries for transient errors while time remains, and cancellation of stragglers. Every instance
ends with a status; partial results are normal; nothing a provider does raises here.

Two clocks: ``timeout_s`` bounds each call a provider makes (an HTTP request through ``positron.http``, an LDAP
operation), and the provider enforces it; the request's deadline bounds a provider's whole answer, which may take
several calls (PagerDuty's pages). Timeouts and unreachable sources are not retried (``positron.errors`` says
why), so a hung source costs one ``timeout_s``, and a paged answer is never started again from its first page
because a call timed out.

Between requests it keeps a ``State`` (``state/backends.py``: cache, single-flight, rate limits; in the process or
in Redis) and a circuit breaker per instance (``state/circuit.py``). Cache hits need no task and no provider: one
cache read for all of a request's instances, then merge.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal

from positron.catalog import Catalog
from positron.chain import chained, resolve
from positron.config import CircuitConfig, EngineConfig
from positron.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    UnknownProvider,
    UnsupportedInput,
)
from positron.merge import Merged, Sourced, merge
from positron.provider import Provider
from positron.query import Answer, Lookup, Query
from positron.state.backends import State, memory_state
from positron.state.cache import cache_key, config_fingerprint, ttl_for
from positron.state.circuit import Circuit, CircuitOpen
from positron.state.ratelimit import Limiter
from positron.telemetry import tracing

log = logging.getLogger(__name__)

# Errors that say nothing about the source's health: they do not count towards opening its circuit.
NOT_FAILURES = (ProviderRateLimited, UnsupportedInput)
Called = tuple["ProviderStatus", list[Answer[Any]]]  # one instance's status and answers

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
    masked: tuple[str, ...] = ()  # answer fields blanked for this caller (the guard masks)
    hint: str | None = None  # why the answer is empty when no instance could have answered


@dataclass(slots=True)
class Instance:
    """A provider instance with the engine's per-instance state."""

    provider: Provider[Any]
    fingerprint: str
    limiter: Limiter
    slots: asyncio.Semaphore
    circuit: Circuit
    healthy: bool = True
    calls: int = field(default=0)

    @property
    def name(self) -> str:
        return self.provider.name


class Engine:
    """``state`` holds the cache, single-flight and rate limits (in-memory and cache-less by default, or
    Redis-backed)."""

    def __init__(
        self,
        providers: Sequence[Provider[Any]],
        config: EngineConfig,
        *,
        state: State | None = None,
        circuit: CircuitConfig | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.config = config
        self.catalog = catalog if catalog is not None else Catalog.load()  # the queries, by name
        self.state = state if state is not None else memory_state(0)
        self.cache = self.state.cache
        self.metrics = self.state.metrics
        breaker = circuit or CircuitConfig(failures=0)
        self.instances: dict[str, Instance] = {
            p.name: Instance(
                p,
                config_fingerprint(p.config),
                self.state.limiter(p.name, p.config.rate_limits),
                asyncio.Semaphore(p.config.max_concurrency),
                Circuit(breaker.failures, breaker.cooldown_s, self._circuit_observer(p.name)),
            )
            for p in providers
            if p.config.enabled
        }
        self._stragglers: set[asyncio.Task[Any]] = set()
        self._serving: dict[str, list[Instance]] = {}

    def _circuit_observer(self, name: str) -> Callable[[str], None]:
        metrics = self.metrics
        if metrics is not None:
            metrics.circuit_state(name, "closed")

        def changed(state: str) -> None:
            if metrics is not None:
                metrics.circuit_state(name, state)
            log.warning("provider %s: circuit %s", name, state.replace("_", "-"))

        return changed

    async def start(self) -> None:
        """Open every instance; one that fails to open stays configured but is reported unhealthy."""
        await self.state.open()
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
        await self.state.close()

    def answering(self, query: Query[Any]) -> list[Instance]:
        """The instances answering ``query`` (computed once per query: instances do not change while running)."""
        serving = self._serving.get(query.name)
        if serving is None:
            serving = self._serving[query.name] = [
                i for i in self.instances.values() if query.name in i.provider.serves()
            ]
        return list(serving)

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
        chain: bool = True,
    ) -> QueryResult:
        """Unguarded, for engine tests, benchmarks and the steps of a chain (a step's value comes from an answer,
        so it is normalized here): no ACL, no egress, no audit. Serving code calls the guard (``Broker.ask``), which
        builds the ``Lookup`` once and calls ``ask``."""
        lookup = Lookup.of(query, raw_value, at)
        return await self.ask(lookup, providers=providers, no_cache=no_cache, skip=skip, chain=chain)

    async def ask(
        self,
        lookup: Lookup,
        *,
        providers: Sequence[str] | None = None,
        no_cache: bool = False,
        skip: Mapping[str, str] | None = None,
        chain: bool = True,
    ) -> QueryResult:
        """Answer one normalized lookup. ``skip`` maps instance names to a reason they must not be asked (e.g.
        denied). A query declared ``via`` other queries is also answered through them (``chain.py``) unless the
        caller named providers or ``chain`` is false."""
        started = time.monotonic()
        query = lookup.query
        selected = self._select(query, providers)
        steps = resolve(query, self.catalog) if chain and providers is None else ()
        via = asyncio.create_task(self._chain(steps, lookup, skip, no_cache, started)) if steps else None
        outcomes: list[Called | None] = [None] * len(selected)
        asking: list[tuple[int, Instance, str]] = []
        for i, inst in enumerate(selected):
            reason = (skip.get(inst.name) if skip else None) or inst.provider.skip_reason(lookup)
            if reason is not None:
                outcomes[i] = (_status(inst, "skipped", error=reason, error_code="skipped"), [])
            else:
                asking.append((i, inst, cache_key(lookup, inst.name, inst.fingerprint)))
        try:
            if asking and self.cache is not None and not no_cache:
                asking = await self._from_cache(lookup, asking, outcomes, started)
            if asking:
                await self._call_all(lookup, asking, outcomes, started, no_cache)
            chained_items, details = await via if via is not None else ([], None)
        finally:
            if via is not None and not via.done():
                via.cancel()
        results = [o for o in outcomes if o is not None]
        if self.metrics is not None:
            for st, _ in results:
                self.metrics.outcome(st.name, query.name, st.status)
        items = [
            Sourced(st.name, st.type, self.instances[st.name].provider.config.weight_for(query), a)
            for st, answers in results
            for a in answers
        ]
        merged = merge(query, items + chained_items, lookup.at or datetime.now(UTC), self.config.conflict_margin)
        if details is not None:
            merged = replace(merged, details={**merged.details, "via": details})
        took = round((time.monotonic() - started) * 1000, 1)
        return QueryResult(query, lookup.value, lookup.at, merged, [st for st, _ in results], took)

    async def _chain(
        self,
        steps: tuple[Query[Any], ...],
        lookup: Lookup,
        skip: Mapping[str, str] | None,
        no_cache: bool,
        started: float,
    ) -> tuple[list[Sourced], dict[str, Any]]:
        async def step(query: Query[Any], value: str, at: datetime | None) -> QueryResult:
            return await self.run(query, value, at, no_cache=no_cache, skip=skip, chain=False)

        def weight_of(name: str, query: Query[Any]) -> float:
            weight: float = self.instances[name].provider.config.weight_for(query)
            return weight

        remaining = started + self.config.deadline_s - time.monotonic()
        return await chained(steps, lookup.value, lookup.at, step, weight_of, remaining)

    async def _from_cache(
        self, lookup: Lookup, asking: list[tuple[int, Instance, str]], outcomes: list[Called | None], started: float
    ) -> list[tuple[int, Instance, str]]:
        """Fill ``outcomes`` from the cache (one round trip for all instances); returns the misses."""
        assert self.cache is not None
        entries = await self.cache.get_many(lookup.query, [key for _, _, key in asking])
        now, elapsed = time.time(), round((time.monotonic() - started) * 1000, 1)
        misses = []
        for (i, inst, key), entry in zip(asking, entries, strict=True):
            if self.metrics is not None:
                self.metrics.cache_result(inst.name, entry is not None)
            if entry is None:
                misses.append((i, inst, key))
                continue
            status = _status(inst, "ok" if entry.answers else "no_data", elapsed_ms=elapsed, cached=True)
            status.age_s = round(max(0.0, now - entry.stored_at), 3)
            outcomes[i] = (status, entry.answers)
        return misses

    async def _call_all(
        self,
        lookup: Lookup,
        asking: list[tuple[int, Instance, str]],
        outcomes: list[Called | None],
        started: float,
        no_cache: bool,
    ) -> None:
        """One task per instance, all at once, under the request's deadline; stragglers are cancelled."""
        deadline = started + self.config.deadline_s
        tasks = {
            asyncio.create_task(self._traced_call(inst, lookup, key, deadline, no_cache)): (i, inst)
            for i, inst, key in asking
        }
        try:
            done, _ = await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()))
        except asyncio.CancelledError:  # the request itself was cancelled (client gone): stop its calls
            for task in tasks:
                task.cancel()
            raise
        for task, (i, inst) in tasks.items():
            if task in done:
                outcomes[i] = task.result()
                continue
            task.cancel()
            self._stragglers.add(task)
            task.add_done_callback(self._stragglers.discard)
            elapsed = round((time.monotonic() - started) * 1000, 1)
            status = _status(inst, "timeout", elapsed_ms=elapsed, error="request deadline reached")
            status.error_code = "deadline"
            outcomes[i] = (status, [])

    async def _traced_call(
        self, inst: Instance, lookup: Lookup, key: str, deadline: float, no_cache: bool
    ) -> Called:
        """``_call`` in a child span of the request's (a no-op unless tracing is on); a failure is logged."""
        with tracing.provider_span(inst.name, inst.provider.type_name, lookup.query.name) as span:
            outcome = await self._call(inst, lookup, key, deadline, no_cache)
            status = outcome[0]
            tracing.provider_status(span, status.status, status.error_code)
            if status.status in ("error", "timeout"):  # the message is the provider's own, built from safe facts
                log.warning("provider %s %s on %s: %s", inst.name, status.status, lookup.query.name, status.error)
            return outcome

    async def _call(self, inst: Instance, lookup: Lookup, key: str, deadline: float, no_cache: bool) -> Called:
        started = time.monotonic()
        status = _status(inst, "ok")
        answers: list[Answer[Any]] = []
        try:
            blocked = inst.circuit.blocked()
            if blocked is not None:
                raise CircuitOpen(blocked)
            if no_cache:
                answers = await self._fresh(inst, lookup, key, deadline)
            else:
                fresh = partial(self._fresh, inst, lookup, key, deadline)
                answers = await self.state.flights.run(key, lookup.query, inst.name, fresh, deadline)
            status.status = "ok" if answers else "no_data"
        except ProviderError as exc:
            status.status, status.error, status.error_code = exc.status, exc.message, exc.code  # type: ignore[assignment]
            if isinstance(exc, ProviderRateLimited):
                status.retry_after = exc.retry_after
            answers = []
        except Exception as exc:  # a provider bug must not become a 500 or hide the other answers
            log.error("provider %s raised %s", inst.name, type(exc).__name__)
            status.status, status.error, status.error_code = "error", "provider failed unexpectedly", "internal"
            answers = []
        status.elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        return status, answers

    async def _fresh(self, inst: Instance, lookup: Lookup, key: str, deadline: float) -> list[Answer[Any]]:
        """Ask the provider (circuit, limits, retries) and cache what it answered."""
        inst.circuit.check()
        try:
            answers = await self._ask(inst, lookup, deadline)
        except NOT_FAILURES:
            inst.circuit.release()
            raise
        except asyncio.CancelledError:  # the deadline passed (a failure), or the caller went away
            inst.circuit.failure() if time.monotonic() >= deadline - 0.05 else inst.circuit.release()
            raise
        except Exception:
            inst.circuit.failure()
            raise
        inst.circuit.success()
        if self.cache is not None:
            ttl = ttl_for(lookup.query, inst.provider.config, bool(answers))
            await self.cache.set(lookup.query, key, answers, ttl)
        return answers

    async def _ask(self, inst: Instance, lookup: Lookup, deadline: float) -> list[Answer[Any]]:
        """Attempts with exponential backoff (jittered, capped at 1 s) on transient errors. A backoff that would
        outlast the deadline is not started: the last error is the status, not a timeout at the deadline.
        (A few lines of our own: retry libraries stop on elapsed time, not on "the next wait ends too late".)"""
        delay = self.config.retry_backoff_s
        for attempt in range(self.config.retries + 1):
            try:
                return await self._attempt(inst, lookup, deadline)
            except ProviderError as exc:
                wait = min(delay, 1.0) * random.uniform(0.5, 1.0)
                if not exc.transient or attempt == self.config.retries or time.monotonic() + wait >= deadline:
                    raise
            await asyncio.sleep(wait)
            delay *= 2
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _attempt(self, inst: Instance, lookup: Lookup, deadline: float) -> list[Answer[Any]]:
        """A slot of the instance's rate limits (waiting only if the wait fits before the deadline), then one
        answer under the request's deadline (each call inside it has the provider's own ``timeout_s``)."""
        waited = await inst.limiter.acquire(budget_s=deadline - time.monotonic())
        if waited and self.metrics is not None:
            self.metrics.waited(inst.name, waited)
        started = time.monotonic()
        try:
            async with asyncio.timeout(max(0.0, deadline - started)):
                async with inst.slots:
                    inst.calls += 1
                    return await inst.provider.ask(lookup)
        except TimeoutError:
            raise ProviderTimeout("no answer before the request deadline") from None
        except ProviderRateLimited as exc:
            if exc.retry_after:
                await inst.limiter.pause(exc.retry_after)
            raise
        finally:
            if self.metrics is not None:
                self.metrics.call(inst.name, lookup.query.name, time.monotonic() - started)


def _status(inst: Instance, status: Status, **fields: Any) -> ProviderStatus:
    return ProviderStatus(inst.name, inst.provider.type_name, status, **fields)


def _safe(exc: BaseException) -> str:
    """What may be logged about an exception: our own messages, else only its type."""
    return exc.message if isinstance(exc, ProviderError) else type(exc).__name__
