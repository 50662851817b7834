"""Per-provider answer cache. The engine caches each provider's raw answers (never errors) and merges after the
cache, so weights and per-request rules always apply to what comes out of it.

The key is (query, normalized value, `at` bucket, instance name, hash of the instance's config): changing a
provider's settings or credentials never serves answers cached under the old ones. The config hash is a
SHA-256 over the config including secrets, so the key reveals nothing about them.

Two backends: ``MemoryCache`` (a bounded LRU in this process, the default) and ``RedisCache`` (shared by every
replica; one MGET per request for all its instances). A Redis failure reads as a miss and a skipped write.
TTLs: the query's, unless the instance overrides them (``cache_ttl_s``, ``no_data_ttl_s``); "found nothing" is
kept no longer than answers.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from pydantic import BaseModel, SecretStr

from positron.provider import ProviderConfig
from positron.query import Answer, Lookup, Query
from positron.state.codec import DecodeError, decode_answers, encode_answers
from positron.state.redis import REDIS_ERRORS, RedisState


@dataclass(frozen=True, slots=True)
class CachedAnswers:
    answers: list[Answer[Any]]
    stored_at: float  # time.time()
    expires_at: float = math.inf  # time.time()


class AnswerCache(Protocol):
    async def get_many(self, query: Query[Any], keys: list[str]) -> list[CachedAnswers | None]:
        """One entry (or None) per key, in order: all of a request's instances in one go."""
        ...

    async def set(self, query: Query[Any], key: str, answers: list[Answer[Any]], ttl_s: float) -> None: ...


def ttl_for(query: Query[Any], config: ProviderConfig, found: bool) -> float:
    """How long to keep one instance's answers to ``query`` (0: do not cache)."""
    ttl = query.cache_ttl_s if config.cache_ttl_s is None else config.cache_ttl_s
    if found:
        return ttl
    return min(ttl, query.no_data_ttl_s if config.no_data_ttl_s is None else config.no_data_ttl_s)


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
    """``{QUERY|value|at}|instance|fingerprint``. The braces are a Redis Cluster hash tag: every instance's entry
    for one lookup (read with one MGET), and the single-flight lock and hand-off keys built from it, land in one
    slot. A ``}`` inside the value only shortens the tag, which is still the same for all of them."""
    return f"{{{lookup.query.name}|{lookup.value}|{at_bucket(lookup.at)}}}|{instance}|{fingerprint}"


class MemoryCache:
    """Bounded LRU with per-entry expiry, for one process."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._max = max_entries
        self._data: OrderedDict[str, tuple[float, CachedAnswers]] = OrderedDict()

    async def get_many(self, query: Query[Any], keys: list[str]) -> list[CachedAnswers | None]:
        return [self.get(key) for key in keys]

    def get(self, key: str) -> CachedAnswers | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        expires, cached = entry
        if expires < time.monotonic():
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return cached

    async def set(self, query: Query[Any], key: str, answers: list[Answer[Any]], ttl_s: float) -> None:
        now = time.time()
        self.put(key, CachedAnswers(list(answers), now, now + ttl_s), ttl_s)

    def put(self, key: str, entry: CachedAnswers, ttl_s: float) -> None:
        if self._max <= 0 or ttl_s <= 0:
            return
        self._data[key] = (time.monotonic() + ttl_s, entry)
        self._data.move_to_end(key)
        while len(self._data) > self._max:
            self._data.popitem(last=False)


class RedisCache:
    """Entries shared by every replica, as ``{prefix}:c:{key}`` with a Redis TTL (Redis bounds the memory:
    run it with ``maxmemory`` and ``maxmemory-policy allkeys-lru``).

    ``local_s`` > 0 also keeps what this process read or wrote in a local LRU for that long (never past the
    entry's own expiry): hot entries then cost no round trip, at the price of another replica's refresh
    (``no_cache``) showing up here up to ``local_s`` later.
    """

    DECODED_ENTRIES = 4096

    def __init__(self, redis: RedisState, local_s: float = 0.0, local_entries: int = 10_000) -> None:
        self.redis = redis
        self.local_s = local_s
        self._local = MemoryCache(local_entries) if local_s > 0 else None
        # Decoded entries by their exact bytes: a hot entry is validated once, not on every hit.
        self._decoded: OrderedDict[bytes, CachedAnswers] = OrderedDict()

    async def get_many(self, query: Query[Any], keys: list[str]) -> list[CachedAnswers | None]:
        found: list[CachedAnswers | None] = [None] * len(keys)
        if self._local is not None:
            found = [self._local.get(k) for k in keys]
        missing = [i for i, entry in enumerate(found) if entry is None]
        if not missing or not self.redis.up:
            return found
        try:
            raw = await self.redis.client.mget([self.redis.key("c", keys[i]) for i in missing])
            blobs = cast("list[bytes | None]", raw)  # decode_responses is off: values are bytes
        except REDIS_ERRORS as exc:
            self.redis.failed("cache_get", exc)
            return found
        self.redis.ok()
        now = time.time()
        for i, blob in zip(missing, blobs, strict=True):
            entry = found[i] = None if blob is None else self._decode(query, blob)
            if entry is not None and self._local is not None:
                self._local.put(keys[i], entry, min(self.local_s, entry.expires_at - now))
        return found

    def _decode(self, query: Query[Any], blob: bytes) -> CachedAnswers | None:
        memo = query.name.encode() + b"|" + blob  # the same bytes under another query may decode differently
        entry = self._decoded.get(memo)
        if entry is not None:
            self._decoded.move_to_end(memo)
            return entry
        entry = _decoded(query, blob)
        if entry is not None:
            self._decoded[memo] = entry
            if len(self._decoded) > self.DECODED_ENTRIES:
                self._decoded.popitem(last=False)
        return entry

    async def set(self, query: Query[Any], key: str, answers: list[Answer[Any]], ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        stored_at = time.time()
        if self._local is not None:
            self._local.put(key, CachedAnswers(list(answers), stored_at, stored_at + ttl_s), min(self.local_s, ttl_s))
        if not self.redis.up:
            return
        blob = encode_answers(query, answers, stored_at, ttl_s)
        try:
            await self.redis.client.set(self.redis.key("c", key), blob, px=max(1, int(ttl_s * 1000)))
        except REDIS_ERRORS as exc:
            self.redis.failed("cache_set", exc)
        else:
            self.redis.ok()


def _decoded(query: Query[Any], blob: bytes) -> CachedAnswers | None:
    try:
        stored_at, answers, expires_at = decode_answers(query, blob)
    except DecodeError:
        return None
    return CachedAnswers(answers, stored_at, expires_at)
