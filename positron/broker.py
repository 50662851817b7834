"""The running broker: settings turned into provider instances, an engine and the known API keys.

Built once per process from a ``Settings`` and a ``Registry``; the API and the CLI both go through it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from positron.config import Settings
from positron.engine import Engine, QueryResult
from positron.errors import ProviderRateLimited
from positron.provider import Health, Provider
from positron.query import Query
from positron.registry import Registry
from positron.security.audit import AuditContext
from positron.security.auth import Principal
from positron.security.guard import ASK, AskOptions, Guard
from positron.state.backends import build_state
from positron.telemetry.metrics import Metrics

HEALTH_TTL_S = 10.0
HEALTH_TIMEOUT_S = 3.0
LIMITED_HEALTH_TTL_S = 300.0  # a probe of a rate-limited source spends its quota: at most this often
NOT_CHECKED = "not checked: rate limit reached"


__all__ = ["AskOptions", "AuditContext", "Broker", "Principal"]


class Broker:
    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        providers: list[Provider[Any]] = [registry.get(cfg.type)(name, cfg) for name, cfg in settings.providers.items()]
        self.metrics = Metrics(redis=settings.redis.url is not None) if settings.metrics.enabled else None
        state = build_state(settings.redis, settings.engine.cache_entries, self.metrics)  # in-memory or Redis
        self.engine = Engine(providers, settings.engine, state=state, circuit=settings.circuit)
        self._health_task: asyncio.Task[None] | None = None
        self.guard = Guard(settings, self.engine, registry)  # keys, policy, egress, audit
        if self.metrics is not None:
            self.guard.audit.observe(self.metrics.audited)  # refused keys and denials, from every surface
        self._health: dict[str, Health] = {}
        self._health_at = 0.0
        self._health_lock = asyncio.Lock()
        self._probed_at: dict[str, float] = {}

    async def start(self) -> None:
        self.guard.audit.start()
        await self.engine.start()
        if self.settings.circuit.health_interval_s > 0:
            self._health_task = asyncio.create_task(self._scheduled_health())

    async def close(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
        await self.engine.close()
        self.guard.audit.stop()

    def authenticate(self, token: str | None) -> Principal:
        """The principal of a valid, unexpired API key (hashed lookup, see positron.security.auth); else 401."""
        return self.guard.authenticate(token)

    def local_principal(self) -> Principal:
        """Who the in-process CLI is: ``cli.principal`` with ``cli.groups`` (default: the admins group)."""
        cli = self.settings.cli
        return Principal(cli.principal, tuple(cli.groups))

    async def ask(
        self,
        principal: Principal,
        query: Query[Any] | str,
        value: str,
        at: datetime | None = None,
        options: AskOptions = ASK,
        context: AuditContext | None = None,
    ) -> QueryResult:
        """The one guarded entry point every surface calls (see positron.security.guard)."""
        return await self.guard.ask(principal, query, value, at, options, context)

    async def ready(self) -> bool:
        """This process can serve: every instance the config marks ``required: true`` is healthy (probed, or
        not opened). Without required instances a started process is ready; optional sources only change
        answers (their status says why), so an outage of one never pulls every replica out of service."""
        required = [name for name, inst in self.engine.instances.items() if inst.provider.config.required]
        if not required:
            return True
        report = await self.health()
        return all(report[name].ok for name in required)

    async def health(self) -> dict[str, Health]:
        """Every instance's health, probed at most every HEALTH_TTL_S seconds, each probe time-boxed."""
        async with self._health_lock:
            if time.monotonic() - self._health_at > HEALTH_TTL_S:
                names = list(self.engine.instances)
                results = await asyncio.gather(*(self._probe(n) for n in names))
                previous, self._health = self._health, dict(zip(names, results, strict=True))
                self._health_at = time.monotonic()
                for name, result in self._health.items():  # fresh checks feed the circuit breakers
                    if result is not previous.get(name) and result.detail != NOT_CHECKED:
                        self.engine.instances[name].circuit.health(result.ok)
            return dict(self._health)

    async def _scheduled_health(self) -> None:
        while True:
            await asyncio.sleep(self.settings.circuit.health_interval_s)
            self._health_at = 0.0  # force a fresh probe
            await self.health()

    async def _probe(self, name: str) -> Health:
        inst = self.engine.instances[name]
        if not inst.healthy:
            return Health(False, "failed to open")
        last = self._health.get(name)
        if inst.provider.config.rate_limits:
            if last is not None and time.monotonic() - self._probed_at.get(name, -1e9) < LIMITED_HEALTH_TTL_S:
                return last
            try:
                await inst.limiter.acquire(budget_s=0)  # a probe spends the instance's quota like a query
            except ProviderRateLimited:
                return Health(last.ok if last else True, NOT_CHECKED)
            self._probed_at[name] = time.monotonic()
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_S):
                return await inst.provider.health()
        except TimeoutError:
            return Health(False, f"health check took longer than {HEALTH_TIMEOUT_S:g} s")
        except Exception as exc:
            return Health(False, f"health check failed: {type(exc).__name__}")
