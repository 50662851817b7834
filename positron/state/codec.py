"""Answers and provider outcomes as bytes, for state shared through Redis (cache entries, single-flight hand-offs).

Values are validated back into the query's own output type (pydantic, in Rust), never unpickled: whatever is in
Redis can at worst fail to decode, which reads as a cache miss.

    answers:  JSON [stored_at, [[value, confidence, observed_at, source_ref, valid_from, valid_to], ...], expires_at]
    outcome:  b"A" + answers  |  b"E" + JSON [code, message, retry_after]
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from positron.errors import ProviderError, ProviderRateLimited, ProviderUnavailable
from positron.query import Answer, Query

Row = tuple[Any, float, datetime | None, str | None, datetime | None, datetime | None]


class DecodeError(ValueError):
    """Bytes that are not what this codec wrote (another version, corruption): treat as absent."""


Envelope = tuple[float, list[Row], float]
_ADAPTERS: dict[str, TypeAdapter[Envelope]] = {}


def _adapter(query: Query[Any]) -> TypeAdapter[Envelope]:
    adapter = _ADAPTERS.get(query.name)
    if adapter is None:
        row = tuple[query.output, float, datetime | None, str | None, datetime | None, datetime | None]  # type: ignore[name-defined]
        adapter = _ADAPTERS[query.name] = TypeAdapter(tuple[float, list[row], float])
    return adapter


def encode_answers(query: Query[Any], answers: list[Answer[Any]], stored_at: float, ttl_s: float = 0.0) -> bytes:
    rows = [(a.value, a.confidence, a.observed_at, a.source_ref, a.valid_from, a.valid_to) for a in answers]
    return _adapter(query).dump_json((stored_at, rows, stored_at + ttl_s))


def decode_answers(query: Query[Any], blob: bytes) -> tuple[float, list[Answer[Any]], float]:
    """(stored_at, answers, expires_at)."""
    try:
        stored_at, rows, expires_at = _adapter(query).validate_json(blob)
        return stored_at, [Answer(v, c, o, r, f, t) for v, c, o, r, f, t in rows], expires_at
    except (ValidationError, ValueError) as exc:
        raise DecodeError(f"undecodable cached answers for {query.name}") from exc


def _error_classes() -> dict[str, type[ProviderError]]:
    found: dict[str, type[ProviderError]] = {}
    stack: list[type[ProviderError]] = [ProviderError]
    while stack:
        cls = stack.pop()
        found.setdefault(cls.code, cls)
        stack.extend(cls.__subclasses__())
    return found


def encode_outcome(query: Query[Any], outcome: list[Answer[Any]] | ProviderError, stored_at: float) -> bytes:
    if isinstance(outcome, ProviderError):
        retry_after = outcome.retry_after if isinstance(outcome, ProviderRateLimited) else None
        return b"E" + json.dumps([outcome.code, outcome.message, retry_after]).encode()
    return b"A" + encode_answers(query, outcome, stored_at)


def decode_outcome(query: Query[Any], blob: bytes) -> list[Answer[Any]] | ProviderError:
    if blob[:1] == b"A":
        return decode_answers(query, blob[1:])[1]
    try:
        code, message, retry_after = json.loads(blob[1:]) if blob[:1] == b"E" else (None, None, None)
    except ValueError as exc:
        raise DecodeError("undecodable single-flight hand-off") from exc
    if not isinstance(code, str) or not isinstance(message, str):
        raise DecodeError("undecodable single-flight hand-off")
    cls = _error_classes().get(code, ProviderUnavailable)
    if issubclass(cls, ProviderRateLimited):
        return cls(message, retry_after=retry_after if isinstance(retry_after, int | float) else None)
    return cls(message)
