"""Per-provider answer cache. The engine caches each provider's raw answers (never errors) and merges after the
cache, so weights and per-request rules always apply to what comes out of it.

The key is (query, normalized value, `at` bucket, instance name, hash of the instance's config): changing a
provider's settings or credentials never serves answers cached under the old ones. The config hash is a
SHA-256 over the config including secrets, so the key reveals nothing about them.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, SecretStr

from positron.query import Answer, Lookup


@dataclass(frozen=True, slots=True)
class CachedAnswers:
    answers: list[Answer[Any]]
    stored_at: float  # time.time()


class AnswerCache(Protocol):
    async def get(self, key: str) -> CachedAnswers | None: ...

    async def set(self, key: str, answers: list[Answer[Any]], ttl_s: float) -> None: ...


def _reveal(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_reveal(v) for v in value]
    return value


def config_fingerprint(config: BaseModel) -> str:
    raw = _reveal(dict(config))
    blob = json.dumps(raw, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def at_bucket(at: datetime | None, bucket_s: int = 60) -> str:
    return "now" if at is None else str(int(at.timestamp()) // bucket_s)


def cache_key(lookup: Lookup, instance: str, fingerprint: str) -> str:
    return f"{lookup.query.name}|{lookup.value}|{at_bucket(lookup.at)}|{instance}|{fingerprint}"


class MemoryCache:
    """Bounded LRU with per-entry expiry, for one process."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max = max_entries
        self._data: OrderedDict[str, tuple[float, CachedAnswers]] = OrderedDict()

    async def get(self, key: str) -> CachedAnswers | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        expires, cached = entry
        if expires < time.monotonic():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return cached

    async def set(self, key: str, answers: list[Answer[Any]], ttl_s: float) -> None:
        if self._max <= 0 or ttl_s <= 0:
            return
        self._data[key] = (time.monotonic() + ttl_s, CachedAnswers(list(answers), time.time()))
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)
