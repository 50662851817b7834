"""Batches: many ``{query, value, at}`` items, run with bounded concurrency; identical items run once.

``run_batch`` yields ``(indices, outcome)`` as each distinct item finishes, so an HTTP layer can stream results
(NDJSON) in completion order or collect them into request order. An item's own failure (unknown query, invalid
value, denied) is its outcome; it never fails the batch. Each distinct item goes through ``run`` — the API passes
the guard's run (ACL, egress/TLP skips, masking, audit), so a batch item is decided exactly like a single query.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from positron.engine import Engine
from positron.errors import QueryError
from positron.query import Query

# Runs one distinct item (query, normalized value, at) to its response body; raises QueryError for its own 4xx.
Run = Callable[[Query[Any], str, datetime | None], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class BatchItem:
    query: str
    value: str
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ItemError:
    status_code: int
    code: str
    message: str


Outcome = dict[str, Any] | ItemError


def _identity(engine: Engine, item: BatchItem) -> tuple[Query[Any], str, datetime | None]:
    """The canonical (query, normalized value, at) that decides which items are the same work."""
    query = engine.catalog.get_query(item.query)
    lookup = engine.lookup(query, item.value, item.at)
    at = lookup.at.astimezone(UTC) if lookup.at else None
    return query, lookup.value, at


async def run_batch(
    engine: Engine,
    items: Sequence[BatchItem],
    run: Run,
    *,
    concurrency: int = 32,
) -> AsyncIterator[tuple[list[int], Outcome]]:
    groups: dict[tuple[str, str, datetime | None], list[int]] = {}
    work: dict[tuple[str, str, datetime | None], tuple[Query[Any], str, datetime | None]] = {}
    for index, item in enumerate(items):
        try:
            query, value, at = _identity(engine, item)
        except QueryError as exc:
            yield [index], ItemError(exc.status_code, exc.code, exc.message)
            continue
        key = (query.name, value, at)
        groups.setdefault(key, []).append(index)
        work[key] = (query, value, at)

    slots = asyncio.Semaphore(concurrency)

    async def one(key: tuple[str, str, datetime | None]) -> tuple[list[int], Outcome]:
        query, value, at = work[key]
        async with slots:
            try:
                result: Outcome = await run(query, value, at)
            except QueryError as exc:
                result = ItemError(exc.status_code, exc.code, exc.message)
        return groups[key], result

    tasks = [asyncio.create_task(one(key)) for key in groups]
    try:
        for finished in asyncio.as_completed(tasks):
            yield await finished
    finally:
        for task in tasks:
            task.cancel()
