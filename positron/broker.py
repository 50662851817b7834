"""The running broker: settings turned into provider instances, an engine and the known API keys.

Built once per process from a ``Settings`` and a ``Registry``; the API and the CLI both go through it.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from dataclasses import dataclass
from typing import Any

from positron.cache import MemoryCache
from positron.config import Settings
from positron.engine import Engine
from positron.errors import AuthenticationFailed
from positron.provider import Health, Provider
from positron.registry import Registry

HEALTH_TTL_S = 10.0
HEALTH_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    groups: tuple[str, ...] = ()


class Broker:
    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        providers: list[Provider[Any]] = [registry.get(cfg.type)(name, cfg) for name, cfg in settings.providers.items()]
        cache = MemoryCache(settings.engine.cache_entries) if settings.engine.cache_entries else None
        self.engine = Engine(providers, settings.engine, cache)
        self._keys = [
            (k.key.get_secret_value().encode(), Principal(k.principal, tuple(k.groups))) for k in settings.api_keys
        ]
        self._health: dict[str, Health] = {}
        self._health_at = 0.0
        self._health_lock = asyncio.Lock()

    async def start(self) -> None:
        await self.engine.start()

    async def close(self) -> None:
        await self.engine.close()

    def authenticate(self, token: str | None) -> Principal:
        """Constant-time comparison against every configured key (the loop never stops early)."""
        presented = (token or "").encode()
        found: Principal | None = None
        for key, principal in self._keys:
            if hmac.compare_digest(key, presented) and presented:
                found = principal
        if found is None:
            raise AuthenticationFailed("invalid or missing API key")
        return found

    async def health(self) -> dict[str, Health]:
        """Every instance's health, probed at most every HEALTH_TTL_S seconds, each probe time-boxed."""
        async with self._health_lock:
            if time.monotonic() - self._health_at > HEALTH_TTL_S:
                names = list(self.engine.instances)
                results = await asyncio.gather(*(self._probe(n) for n in names))
                self._health = dict(zip(names, results, strict=True))
                self._health_at = time.monotonic()
            return dict(self._health)

    async def _probe(self, name: str) -> Health:
        inst = self.engine.instances[name]
        if not inst.healthy:
            return Health(False, "failed to open")
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_S):
                return await inst.provider.health()
        except TimeoutError:
            return Health(False, f"health check took longer than {HEALTH_TIMEOUT_S:g} s")
        except Exception as exc:
            return Health(False, f"health check failed: {type(exc).__name__}")
