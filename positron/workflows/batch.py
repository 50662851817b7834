"""Batches: many lookups, run with bounded concurrency; identical lookups run once.

The surface prepares every item through the guard first (``Caller.prepare``: authorized, validated, normalized
into its ``Lookup``; a refusal is that item's ``ItemError`` and its own audit line), then ``run_batch`` groups the
prepared items by ``Lookup.identity`` and executes each group once (``Caller.execute``: run, mask, one audit line).
It yields ``(indices, outcome)`` as each group finishes, so an HTTP layer can stream results (NDJSON) in completion
order or collect them into request order. An item's failure never fails the batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from positron.engine import QueryResult
from positron.errors import QueryError, TooMuchWork
from positron.query import Lookup


class Ready(Protocol):
    """An item the guard has prepared: what decides which items are the same work is its lookup."""

    @property
    def lookup(self) -> Lookup: ...


R = TypeVar("R", bound=Ready)


@dataclass(frozen=True, slots=True)
class ItemError:
    status_code: int
    code: str
    message: str

    @classmethod
    def of(cls, exc: QueryError) -> ItemError:
        return cls(exc.status_code, exc.code, exc.message)


ItemOutcome = QueryResult | ItemError
Identity = tuple[str, str, datetime | None]


def group(items: Sequence[R | ItemError]) -> tuple[dict[Identity, list[int]], dict[Identity, R]]:
    """Indices of each distinct lookup, and one prepared item for each."""
    groups: dict[Identity, list[int]] = {}
    work: dict[Identity, R] = {}
    for index, item in enumerate(items):
        if isinstance(item, ItemError):
            continue
        key = item.lookup.identity
        groups.setdefault(key, []).append(index)
        work.setdefault(key, item)
    return groups, work


def check_budget(distinct: int, max_lookups: int) -> None:
    if distinct > max_lookups:
        raise TooMuchWork(
            f"this request needs {distinct} distinct lookups; workflows.max_lookups allows at most {max_lookups}"
        )


async def run_batch(
    items: Sequence[R | ItemError],
    execute: Callable[[R], Awaitable[QueryResult]],
    *,
    concurrency: int = 32,
) -> AsyncIterator[tuple[list[int], ItemOutcome]]:
    """Refused items first, then each distinct lookup as it finishes (the surface checked the budget before)."""
    groups, work = group(items)
    for index, item in enumerate(items):
        if isinstance(item, ItemError):
            yield [index], item
    slots = asyncio.Semaphore(concurrency)

    async def one(key: Identity) -> tuple[list[int], ItemOutcome]:
        async with slots:
            try:
                result: ItemOutcome = await execute(work[key])
            except QueryError as exc:
                result = ItemError.of(exc)
        return groups[key], result

    tasks = [asyncio.create_task(one(key)) for key in groups]
    try:
        for finished in asyncio.as_completed(tasks):
            yield await finished
    finally:
        for task in tasks:
            task.cancel()
