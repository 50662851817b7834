"""A ``QueryResult`` as plain JSON types: the one serialization that every surface (HTTP, batch, enrich, the CLI)
uses, so a result reads the same wherever it is asked. Values are documented by the per-query response models
(positron.api.schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from positron.engine import ProviderStatus, QueryResult
from positron.merge import Ranked, Source, Why


def _json(value: Any) -> Any:
    """Answer values are str, lists of str or pydantic models: straight to JSON types, no generic encoder."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _source(s: Source) -> dict[str, Any]:
    return {
        "provider": s.provider,
        "type": s.type,
        "value": _json(s.value),
        "confidence": s.confidence,
        "score": s.score,
        "observed_at": _time(s.observed_at),
        "source_ref": s.source_ref,
        "valid_from": _time(s.valid_from),
        "valid_to": _time(s.valid_to),
        "evidence": s.evidence.value,
        "last_confirmed": _time(s.last_confirmed),
        "weight": s.weight,
        "decay": s.decay,
        "current": s.current,
    }


def _why(w: Why | None) -> dict[str, Any] | None:
    if w is None:
        return None
    return {
        "evidence": w.evidence.value,
        "provider": w.provider,
        "valid_from": _time(w.valid_from),
        "valid_to": _time(w.valid_to),
        "last_confirmed": _time(w.last_confirmed),
        "age_s": w.age_s,
        "score": w.score,
        "providers": list(w.providers),
    }


def _answer(r: Ranked) -> dict[str, Any]:
    return {
        "value": _json(r.value),
        "confidence": r.confidence,
        "sources": [_source(s) for s in r.sources],
        "why": _why(r.why),
    }


def _status(s: ProviderStatus) -> dict[str, Any]:
    return {
        "name": s.name,
        "type": s.type,
        "status": s.status,
        "elapsed_ms": s.elapsed_ms,
        "cached": s.cached,
        "age_s": s.age_s,
        "error": s.error,
        "error_code": s.error_code,
        "retry_after": s.retry_after,
    }


def result_body(result: QueryResult) -> dict[str, Any]:
    """The response body as plain JSON types (values are documented by the per-query response models)."""
    merged = result.merged
    return {
        "query": result.query.name,
        "value": result.value,
        "at": _time(result.at),
        "answer": _answer(merged.answer) if merged.answer else None,
        "answers": [_answer(r) for r in merged.answers],
        "conflict": merged.conflict,
        "conflict_providers": list(merged.conflict_providers),
        "details": _details(result),
        "providers": [_status(s) for s in result.providers],
        "took_ms": result.took_ms,
    }


def _details(result: QueryResult) -> dict[str, Any]:
    details = dict(result.merged.details)
    if result.masked:
        details["masked"] = sorted(result.masked)
    if result.hint:
        details["hint"] = result.hint
    return details
