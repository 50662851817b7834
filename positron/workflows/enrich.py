"""Enrichment as one call: a request (typed observables, a wrapped alert, or a raw alert) → the applicable queries
for each observable → per-observable results and a Markdown summary. The HTTP route and the CLI share it; the
caller supplies how one query runs (the API: through the guard) and which queries may run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from positron.catalog import Catalog, canonical_name
from positron.config import WorkflowConfig
from positron.engine import Engine
from positron.errors import InvalidInput
from positron.workflows.batch import BatchItem, ItemError, Run, run_batch
from positron.workflows.observables import DEFAULT_HINTS, TYPE_QUERIES, Observable, alert_time, extract, typed
from positron.workflows.summary import markdown


@dataclass(frozen=True, slots=True)
class EnrichRequest:
    observables: list[Observable]
    alert: Mapping[str, Any]
    wanted: set[str] | None
    at: datetime | None
    title: str | None


def parse_request(
    payload: Mapping[str, Any], config: WorkflowConfig, catalog: Catalog, at: datetime | None = None
) -> EnrichRequest:
    """``{"observables": [...]}``, ``{"alert": {...}}``, or the raw alert itself (a bare Splunk webhook body)."""
    alert: Mapping[str, Any] = {}
    if isinstance(payload.get("observables"), list):
        observables = typed(payload["observables"])
    else:
        wrapped = payload.get("alert")
        control = {"queries", "at", "tlp", "observables", "alert"}
        alert = wrapped if isinstance(wrapped, Mapping) else {k: v for k, v in payload.items() if k not in control}
        if not alert:
            raise InvalidInput("expected 'observables': [{type, value}], 'alert': {...}, or a raw alert object")
        hints = {**DEFAULT_HINTS, **{k.lower(): v for k, v in config.enrich_hints.items()}}
        observables = extract(alert, hints)
    title = alert.get("search_name")
    return EnrichRequest(
        observables,
        alert,
        _wanted(payload.get("queries"), catalog),
        at or alert_time(alert, config.enrich_time_field),
        title if isinstance(title, str) else None,
    )


def _wanted(names: Any, catalog: Catalog) -> set[str] | None:
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidInput("queries: expected a list of query names")
    wanted = {canonical_name(q) for q in names}
    if unknown := sorted(wanted - set(catalog)):
        raise InvalidInput(f"queries: unknown {', '.join(unknown)}; known: {', '.join(catalog)}")
    return wanted


def plan(
    request: EnrichRequest, catalog: Catalog, may_run: Callable[[str], bool]
) -> list[tuple[int, str, BatchItem]]:
    """(observable index, query, item) for every applicable query the caller may run (and asked for)."""
    steps = []
    for n, obs in enumerate(request.observables):
        for name in TYPE_QUERIES[obs.type]:
            if (request.wanted is not None and name not in request.wanted) or not may_run(name):
                continue
            steps.append((n, name, BatchItem(name, obs.value, request.at if catalog[name].accepts_at else None)))
    return steps


async def enrich(
    engine: Engine, request: EnrichRequest, run: Run, may_run: Callable[[str], bool], concurrency: int = 32
) -> dict[str, Any]:
    steps = plan(request, engine.catalog, may_run)
    entries: list[dict[str, Any]] = [
        {"type": o.type, "value": o.value, "field": o.field, "results": {}} for o in request.observables
    ]
    async for indices, outcome in run_batch(engine, [item for _, _, item in steps], run, concurrency=concurrency):
        for index in indices:
            n, name, _ = steps[index]
            if isinstance(outcome, ItemError):
                entries[n]["results"][name] = {"error": {"code": outcome.code, "message": outcome.message}}
            else:
                entries[n]["results"][name] = outcome
    at = request.at.isoformat() if request.at else None
    return {
        "at": at,
        "title": request.title,
        "observables": entries,
        "markdown": markdown(entries, title=request.title, at=at),
    }
