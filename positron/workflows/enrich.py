"""Enrichment as one call: a request (typed observables, a wrapped alert, or a raw alert) → the applicable queries
for each observable → per-observable results and a Markdown summary. The HTTP route and the CLI share it; every
lookup goes through the guard (``Caller``: policy, egress, masking, one audit line each), and the work one request
may cause is bounded (``workflows.enrich_max_observables``, ``workflows.max_lookups``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from positron.catalog import Catalog, canonical_name
from positron.config import WorkflowConfig
from positron.errors import InvalidInput, QueryError, TooMuchWork
from positron.inputs import is_unicode
from positron.results import result_body
from positron.security.guard import Caller, Prepared
from positron.workflows.batch import ItemError, run_batch
from positron.workflows.observables import DEFAULT_HINTS, TYPE_QUERIES, Observable, alert_time, extract, typed
from positron.workflows.summary import markdown


@dataclass(frozen=True, slots=True)
class EnrichJob:
    """What one enrich request asks for, parsed: the observables, the queries wanted, the time, the title."""

    observables: list[Observable]
    alert: Mapping[str, Any]
    wanted: set[str] | None
    at: datetime | None
    title: str | None


@dataclass(frozen=True, slots=True)
class Step:
    observable: int  # index into EnrichJob.observables
    query: str
    value: str
    at: datetime | None


def parse_request(
    payload: Mapping[str, Any], config: WorkflowConfig, catalog: Catalog, at: datetime | None = None
) -> EnrichJob:
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
        _check_unicode(alert)
        hints = {**DEFAULT_HINTS, **{k.lower(): v for k, v in config.enrich_hints.items()}}
        observables = extract(alert, hints)
    if len(observables) > config.enrich_max_observables:
        raise TooMuchWork(
            f"the request holds {len(observables)} distinct observables; workflows.enrich_max_observables allows "
            f"at most {config.enrich_max_observables}"
        )
    title = alert.get("search_name")
    return EnrichJob(
        observables,
        alert,
        _wanted(payload.get("queries"), catalog),
        at or alert_time(alert, config.enrich_time_field),
        title if isinstance(title, str) else None,
    )


def _check_unicode(alert: Mapping[str, Any]) -> None:
    """Field names and texts must be Unicode: a lone surrogate (``"\\ud800"``) has no UTF-8 form to answer with."""
    stack: list[tuple[str, Any]] = [("alert", alert)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, Mapping):
            for key, value in node.items():
                if not is_unicode(str(key)):
                    raise InvalidInput(f"{where}: a field name holds a lone surrogate (e.g. \\ud800), not Unicode")
                stack.append((f"{where}.{key}", value))
        elif isinstance(node, list):
            stack.extend((f"{where}.{i}", value) for i, value in enumerate(node))
        elif isinstance(node, str) and not is_unicode(node):
            raise InvalidInput(f"{where}: holds a lone surrogate (e.g. \\ud800), not Unicode")


def _wanted(names: Any, catalog: Catalog) -> set[str] | None:
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidInput("queries: expected a list of query names")
    if not all(is_unicode(n) for n in names):
        raise InvalidInput("queries: a name holds a lone surrogate (e.g. \\ud800), not Unicode")
    wanted = {canonical_name(q) for q in names}
    if unknown := sorted(wanted - set(catalog)):
        raise InvalidInput(f"queries: unknown {', '.join(unknown)}; known: {', '.join(catalog)}")
    return wanted


def plan(job: EnrichJob, catalog: Catalog, may_run: Callable[[str], bool]) -> list[Step]:
    """A step for every applicable query the caller may run (and asked for), for every observable."""
    steps = []
    for n, obs in enumerate(job.observables):
        for name in TYPE_QUERIES[obs.type]:
            if (job.wanted is not None and name not in job.wanted) or not may_run(name):
                continue
            steps.append(Step(n, name, obs.value, job.at if catalog[name].accepts_at else None))
    return steps


def _prepare(caller: Caller, step: Step) -> Prepared | ItemError:
    try:
        return caller.prepare(step.query, step.value, step.at)
    except QueryError as exc:
        return ItemError.of(exc)


async def enrich(job: EnrichJob, caller: Caller, config: WorkflowConfig) -> dict[str, Any]:
    steps = plan(job, caller.guard.engine.catalog, caller.may_run)
    if len(steps) > config.max_lookups:  # observables are distinct, so each step is a distinct lookup
        raise TooMuchWork(
            f"the request needs {len(steps)} lookups; workflows.max_lookups allows at most {config.max_lookups}"
        )
    entries: list[dict[str, Any]] = [
        {"type": o.type, "value": o.value, "field": o.field, "results": {}} for o in job.observables
    ]
    prepared = [_prepare(caller, step) for step in steps]
    async for indices, outcome in run_batch(prepared, caller.execute, concurrency=config.batch_concurrency):
        for index in indices:
            step = steps[index]
            if isinstance(outcome, ItemError):
                entries[step.observable]["results"][step.query] = {
                    "error": {"code": outcome.code, "message": outcome.message}
                }
            else:
                entries[step.observable]["results"][step.query] = result_body(outcome)
    at = job.at.isoformat() if job.at else None
    return {"at": at, "title": job.title, "observables": entries, "markdown": markdown(entries, title=job.title, at=at)}
