"""Lookups in this process (no ``--server``): the one function every in-process command runs a query through."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from positron.broker import Broker
from positron.engine import QueryResult
from positron.query import Query


async def lookup_here(
    broker: Broker, q: Query[Any], value: str, at: datetime | None, providers: Any = None
) -> QueryResult:
    """One lookup on a started broker: what `query` runs, and `batch` for each of its items."""
    return await broker.engine.run(q, value, at, providers=providers)
