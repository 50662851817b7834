"""Batches and enrichment without I/O: the typed items callers pass, the request bodies for ``POST /v1/batch`` and
``POST /v1/enrich``, and their responses (JSON, or NDJSON lines) parsed into typed results.

A batch item's own failure (unknown query, invalid value, denied) is part of its result, not an exception:
``BatchItemResult.error`` says what went wrong and ``unwrap()`` raises it as the same typed error ``query()`` would.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from positron_client._exceptions import error_for_status
from positron_client._models import QueryResult, parse_result, parse_time
from positron_client._queries import value_parser

BATCH_PATH = "/v1/batch"
ENRICH_PATH = "/v1/enrich"
NDJSON = "application/x-ndjson"
# The keys of enrich's own request shapes; a mapping with other keys is a raw alert and is sent as {"alert": ...}.
_ENRICH_KEYS = frozenset({"alert", "observables", "queries", "at", "tlp"})


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One lookup of a batch: a query by name, its value and, for the queries that take one, a point in time."""

    query: str
    value: str
    at: datetime | str | None = None


@dataclass(frozen=True, slots=True)
class Observable:
    """A typed observable for ``enrich()``: ``type`` is ip, hash, domain, hostname, username or mail."""

    type: str
    value: str


# What batch() and iter_batch() take: BatchItem, (query, value), (query, value, at), or {"query", "value", "at"?}.
BatchItemLike = BatchItem | tuple[str, str] | tuple[str, str, datetime | str | None] | Mapping[str, Any]
# What enrich() takes: a raw alert (a Splunk webhook body), {"alert": ...} / {"observables": ...}, or observables
# as Observable, (type, value) or {"type", "value"}.
ObservableLike = Observable | tuple[str, str] | Mapping[str, str]
EnrichInput = Mapping[str, Any] | Sequence[ObservableLike]


@dataclass(frozen=True, slots=True)
class ItemError:
    """Why one batch item (or one query of an enrichment) failed: Positron's error code and message."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class BatchItemResult:
    """One item's outcome, ``index`` being its position in the request. ``status`` is 200 with ``result`` (the
    same ``QueryResult`` that ``query()`` returns), or the item's own 4xx with ``error``."""

    index: int
    status: int
    result: QueryResult[Any] | None
    error: ItemError | None

    @property
    def ok(self) -> bool:
        return self.result is not None

    def unwrap(self) -> QueryResult[Any]:
        """The result, or the item's error raised as ``query()`` would (``UnknownQuery``, ``InvalidInput``, ...)."""
        if self.result is not None:
            return self.result
        error = self.error or ItemError("http_error", f"item {self.index} failed with HTTP {self.status}")
        raise error_for_status(self.status, error.code, error.message, None)


@dataclass(frozen=True, slots=True)
class EnrichedObservable:
    """An observable found in (or given with) the alert, with each applicable query's result; queries that failed
    for it are in ``errors`` instead."""

    type: str
    value: str
    field: str | None
    results: dict[str, QueryResult[Any]]
    errors: dict[str, ItemError]


@dataclass(frozen=True, slots=True)
class EnrichResult:
    """An enrichment: the time asked about (the alert's own by default), the alert's title, every observable with
    its results, and a Markdown summary ready to paste into a ticket. ``raw`` is the JSON as received."""

    at: datetime | None
    title: str | None
    observables: list[EnrichedObservable]
    markdown: str
    took_ms: float
    raw: dict[str, Any] = field(repr=False, compare=False)


# --- request bodies --------------------------------------------------------------------------------------------


def _at(at: datetime | str | None) -> str | None:
    return at.isoformat() if isinstance(at, datetime) else at


def _item(item: BatchItemLike) -> dict[str, Any]:
    if isinstance(item, BatchItem):
        query, value, at = item.query, item.value, item.at
    elif isinstance(item, tuple) and len(item) in (2, 3):
        query, value, at = item[0], item[1], item[2] if len(item) == 3 else None
    elif isinstance(item, Mapping) and "query" in item and "value" in item:
        query, value, at = item["query"], item["value"], item.get("at")
    else:
        raise TypeError(
            "a batch item is BatchItem(query, value, at=None), (query, value), (query, value, at) or "
            f"{{'query', 'value', 'at'?}}; got {item!r:.200}"
        )
    body: dict[str, Any] = {"query": query, "value": value}
    if at is not None:
        body["at"] = _at(at)
    return body


def batch_body(items: Iterable[BatchItemLike], no_cache: bool, tlp: int | str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"items": [_item(i) for i in items]}
    if no_cache:
        body["no_cache"] = True
    if tlp is not None:
        body["tlp"] = tlp
    return body


def _observable(obs: ObservableLike) -> dict[str, str]:
    if isinstance(obs, Observable):
        return {"type": obs.type, "value": obs.value}
    if isinstance(obs, tuple) and len(obs) == 2:
        return {"type": obs[0], "value": obs[1]}
    if isinstance(obs, Mapping) and "type" in obs and "value" in obs:
        return {"type": obs["type"], "value": obs["value"]}
    raise TypeError(f"an observable is Observable(type, value), (type, value) or {{'type', 'value'}}; got {obs!r:.200}")


def enrich_body(
    alert_or_observables: EnrichInput,
    queries: Sequence[str] | None,
    at: datetime | str | None,
    tlp: int | str | None,
) -> dict[str, Any]:
    """``{"alert": ...}`` for a raw alert (so its own fields never clash with ``at``/``queries``/``tlp``), the
    request as given when it already is ``{"alert": ...}`` or ``{"observables": ...}``, else typed observables."""
    if isinstance(alert_or_observables, Mapping):
        given: dict[str, Any] = dict(alert_or_observables)
        wrapped = set(given) <= _ENRICH_KEYS and ("alert" in given or "observables" in given)
        body: dict[str, Any] = given if wrapped else {"alert": given}
    elif isinstance(alert_or_observables, (str, bytes)):
        raise TypeError("enrich() takes an alert (a mapping) or a list of observables, not a string")
    else:
        body = {"observables": [_observable(o) for o in alert_or_observables]}
    if queries is not None:
        body["queries"] = list(queries)
    if at is not None:
        body["at"] = _at(at)
    if tlp is not None:
        body["tlp"] = tlp
    return body


# --- responses -------------------------------------------------------------------------------------------------


def _query_result(raw: dict[str, Any]) -> QueryResult[Any]:
    return parse_result(raw, value_parser(raw["query"]))


def _item_error(raw: Any) -> ItemError:
    return ItemError(str(raw["code"]), str(raw["message"]))


def parse_batch_item(raw: Mapping[str, Any]) -> BatchItemResult:
    result, error = raw.get("result"), raw.get("error")
    return BatchItemResult(
        index=int(raw["index"]),
        status=int(raw["status"]),
        result=_query_result(result) if result is not None else None,
        error=_item_error(error) if error is not None else None,
    )


def parse_batch(raw: Mapping[str, Any]) -> list[BatchItemResult]:
    """``{"results": [...], "took_ms"}`` → the results in request order."""
    return sorted((parse_batch_item(r) for r in raw["results"]), key=lambda r: r.index)


def parse_ndjson_line(line: str) -> BatchItemResult | None:
    """One streamed line → its result; blank lines (keep-alives) → None. Raises ValueError/KeyError/TypeError."""
    return parse_batch_item(json.loads(line)) if line.strip() else None


def _enriched(raw: Mapping[str, Any]) -> EnrichedObservable:
    results: dict[str, QueryResult[Any]] = {}
    errors: dict[str, ItemError] = {}
    for name, body in raw["results"].items():
        if "error" in body and "answer" not in body:
            errors[name] = _item_error(body["error"])
        else:
            results[name] = _query_result(body)
    return EnrichedObservable(raw["type"], raw["value"], raw.get("field"), results, errors)


def parse_enrich(raw: dict[str, Any]) -> EnrichResult:
    return EnrichResult(
        at=parse_time(raw.get("at")),
        title=raw.get("title"),
        observables=[_enriched(o) for o in raw["observables"]],
        markdown=raw["markdown"],
        took_ms=raw["took_ms"],
        raw=raw,
    )


class StreamTally:
    """Which indices a stream has delivered, to say precisely what is missing when it ends early."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.seen: set[int] = set()

    def add(self, result: BatchItemResult) -> BatchItemResult:
        self.seen.add(result.index)
        return result

    @property
    def started(self) -> bool:
        return bool(self.seen)

    def missing(self) -> str | None:
        if len(self.seen) >= self.expected:
            return None
        return f"the batch stream ended after {len(self.seen)} of {self.expected} results"
