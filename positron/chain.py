"""Chained answers: a query declared ``via=("A", "B")`` is also answered by asking A, then B with A's best answer,
at the same ``at``. IP_TO_USER is the case: the host that held the address then (DHCP, DNS, EDR), then the user
logged on to that host then (EDR, Fleet, logon events). It runs beside the query's own providers and its answers
join the same merge.

Rules, kept small on purpose:
- Only the best answer of each step goes on (no fan-out over alternatives); an empty step ends the chain.
- Steps are ordinary engine runs (cache, rate limits, circuits apply) with the request's skips and ``no_cache``,
  and never chain again. The whole chain shares the request's deadline: what is not done by then is dropped and
  ``details.via.status`` says ``timeout``.
- Each source of the last step becomes one chained source named ``<first-step providers>→<provider>`` of type
  ``chain``: confidence = the first step's merged confidence × that source's own confidence, weight = that
  provider's weight for the last step, observed_at = that source's. A provider that also answers the query directly
  counts again through the chain (it vouches for a different link).
- Who may run the query may see the intermediate value (``details.via``); the guard asks that the caller may run
  every step, and skips the instances it may not use for any step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from positron.errors import QueryError
from positron.merge import Sourced
from positron.query import Answer, Query

Run = Callable[[Query[Any], str, datetime | None], Awaitable[Any]]  # an Engine.run without chaining
WeightOf = Callable[[str, Query[Any]], float]


async def chained(
    steps: tuple[Query[Any], ...], value: str, at: datetime | None, run: Run, weight_of: WeightOf, timeout_s: float
) -> tuple[list[Sourced], dict[str, Any]]:
    """The chain's sources and a ``details.via`` record; never raises for a provider's failure."""
    via: dict[str, Any] = {"steps": [q.name for q in steps], "values": []}
    try:
        async with asyncio.timeout(max(0.0, timeout_s)):
            return await _walk(steps, value, at, run, weight_of, via), via
    except TimeoutError:
        via["status"] = "timeout"
    except QueryError as exc:  # a step's answer is not a valid input of the next step
        via["status"] = exc.code
    return [], via


async def _walk(
    steps: tuple[Query[Any], ...], value: str, at: datetime | None, run: Run, weight_of: WeightOf, via: dict[str, Any]
) -> list[Sourced]:
    confidence, names = 1.0, ""
    for step in steps[:-1]:
        result = await run(step, value, at)
        best = result.merged.answer
        if best is None:
            via["status"] = "no_data"
            return []
        value = str(best.value)
        confidence *= best.confidence
        names = "+".join(sorted({s.provider for s in best.sources}))
        via["values"].append(value)
    last = steps[-1]
    result = await run(last, value, at)
    sourced = [
        Sourced(
            f"{names}→{source.provider}",
            "chain",
            weight_of(source.provider, last),
            Answer(ranked.value, round(confidence * source.confidence, 6), source.observed_at, _ref(value, source)),
        )
        for ranked in result.merged.answers
        for source in ranked.sources
    ]
    via["status"] = "ok" if sourced else "no_data"
    return sourced


def _ref(value: str, source: Any) -> str:
    return f"{value}: {source.source_ref}" if source.source_ref else value


def resolve(query: Query[Any], catalog: Mapping[str, Query[Any]]) -> tuple[Query[Any], ...]:
    """The chain's query objects, or () when the query has none or names a query this catalog lacks."""
    if len(query.via) < 2 or not all(name in catalog for name in query.via):
        return ()
    return tuple(catalog[name] for name in query.via)


__all__ = ["chained", "resolve"]
