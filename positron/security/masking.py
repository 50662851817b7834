"""Field masking on the typed result: a field named in any ``QUERY.field, read`` policy line is blanked for every
caller without that permission, in the merged answer and in each source's value, before any surface serializes
the result (the guard calls ``masked``; the response lists the fields in ``details.masked``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from pydantic import BaseModel

from positron.merge import Merged, Ranked


def masked(merged: Merged, fields: frozenset[str]) -> Merged:
    """The merged answers with ``fields`` blanked in every value, the answer's and each source's."""

    def ranked(r: Ranked) -> Ranked:
        sources = tuple(replace(s, value=_blank(s.value, fields)) for s in r.sources)
        return replace(r, value=_blank(r.value, fields), sources=sources)

    answer = ranked(merged.answer) if merged.answer is not None else None
    return replace(merged, answer=answer, answers=tuple(ranked(r) for r in merged.answers))


def _blank(value: Any, fields: Iterable[str]) -> Any:
    """A record value with the fields set to null (as a plain mapping: a model's own types may not allow null)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: (None if k in fields else v) for k, v in value.items()}
    return value
