"""Lookups in this process (no ``--server``): the one function every in-process command runs a query through."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from positron.broker import AskOptions, AuditContext, Broker
from positron.engine import QueryResult
from positron.query import Query


async def lookup_here(
    broker: Broker, q: Query[Any] | str, value: str, at: datetime | None, providers: Sequence[str] | None = None
) -> QueryResult:
    """One lookup on a started broker, through the one guarded entry point as the config's ``cli`` principal
    (authorized, egress-checked, masked and audited like an API call): what `query` runs, and `batch` for each of
    its items."""
    options = AskOptions(providers=list(providers) if providers else None)
    context = AuditContext(uuid.uuid4().hex, "cli")
    return await broker.ask(broker.local_principal(), q, value, at, options, context)
