"""Ranking and merging: pure functions from provider answers to one answer with provenance.

Scoring (documented in docs/ARCHITECTURE.md):
  source score  s = weight × confidence × recency
  recency       0.5 + 0.5 × 2^(−|observed_at − ref| / half_life), or 0.75 without an observation time;
                ref = the request's `at`, or now
  group score   1 − Π(1 − min(s, 0.99)) over the distinct providers agreeing on a value (agreement raises it)
Groups rank by score, ties broken by value, so the result never depends on the order providers answered in,
and merging a list with itself changes nothing (one provider counts once per value).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from positron.query import Answer, MergeStrategy, Query
from positron.verdict import Reputation, Verdict


@dataclass(frozen=True, slots=True)
class Sourced:
    """One provider's answer, with who gave it and how much that provider is trusted for this query."""

    provider: str
    provider_type: str
    weight: float
    answer: Answer[Any]


@dataclass(frozen=True, slots=True)
class Source:
    provider: str
    type: str
    value: Any
    confidence: float
    score: float
    observed_at: datetime | None
    source_ref: str | None


@dataclass(frozen=True, slots=True)
class Ranked:
    value: Any
    confidence: float
    sources: tuple[Source, ...]


@dataclass(frozen=True, slots=True)
class Merged:
    answer: Ranked | None
    answers: tuple[Ranked, ...] = ()
    conflict: bool = False
    details: dict[str, Any] = field(default_factory=dict)


def recency(observed_at: datetime | None, ref: datetime, half_life_s: float) -> float:
    if observed_at is None:
        return 0.75
    age = abs((ref - observed_at).total_seconds())
    return 0.5 + 0.5 * float(2.0 ** (-age / half_life_s))


def _score(item: Sourced, ref: datetime, half_life_s: float) -> float:
    return item.weight * item.answer.confidence * recency(item.answer.observed_at, ref, half_life_s)


MAX_SOURCE_SCORE = 0.99  # no single source is certain, so agreement can always add


def _combine(scores: Iterable[float]) -> float:
    remaining = 1.0
    for s in scores:
        remaining *= 1.0 - min(max(s, 0.0), MAX_SOURCE_SCORE)
    return round(1.0 - remaining, 6)


def _sources(query: Query[Any], items: Iterable[Sourced], ref: datetime) -> list[Source]:
    """Best answer per provider, as Sources ordered by score (then provider name)."""
    best: dict[str, tuple[tuple[float, str, float, str, str, str], Source]] = {}
    for item in items:
        a = item.answer
        score = round(_score(item, ref, query.half_life_s), 6)
        src = Source(item.provider, item.provider_type, a.value, a.confidence, score, a.observed_at, a.source_ref)
        order = _source_order(src, query.key(a.value))
        current = best.get(item.provider)
        if current is None or order < current[0]:
            best[item.provider] = (order, src)
    return [src for _, src in sorted(best.values(), key=lambda pair: pair[0])]


def _source_order(s: Source, value_key: str) -> tuple[float, str, float, str, str, str]:
    """A total order, so that which answer represents a provider never depends on arrival order."""
    observed = s.observed_at.isoformat() if s.observed_at else ""
    return (-s.score, s.provider, -s.confidence, observed, value_key, s.source_ref or "")


def _group(query: Query[Any], items: Sequence[Sourced]) -> dict[str, list[Sourced]]:
    groups: dict[str, list[Sourced]] = {}
    for item in items:
        groups.setdefault(query.key(item.answer.value), []).append(item)
    if query.host_names:
        _fold_short_names(groups)
    return groups


def _fold_short_names(groups: dict[str, list[Sourced]]) -> None:
    """``ws-042`` joins ``ws-042.corp.example`` when that is the only FQDN it can abbreviate."""
    for short in sorted(k for k in groups if "." not in k):
        fqdns = sorted(k for k in groups if "." in k and k.split(".", 1)[0] == short)
        if len(fqdns) == 1:
            groups[fqdns[0]].extend(groups.pop(short))


def _representative(query: Query[Any], key: str, sources: list[Source]) -> Any:
    if query.host_names:
        return key
    if query.merge is MergeStrategy.RECORD:
        return _fill_record([s.value for s in sources])
    return sources[0].value


def _fill_record(values: list[Any]) -> Any:
    """The best source's record, its missing fields filled from the next sources in rank order."""
    first = values[0]
    if not isinstance(first, BaseModel):
        return first
    merged = first.model_dump()
    for other in values[1:]:
        for name, val in other.model_dump().items():
            if merged.get(name) is None and val is not None:
                merged[name] = val
    return type(first).model_validate(merged)


def _ranked(query: Query[Any], items: Sequence[Sourced], ref: datetime) -> list[Ranked]:
    ranked = []
    for key, members in _group(query, items).items():
        sources = _sources(query, members, ref)
        value = _representative(query, key, sources)
        ranked.append((key, Ranked(value, _combine(s.score for s in sources), tuple(sources))))
    ranked.sort(key=lambda kr: (-kr[1].confidence, -sum(s.score for s in kr[1].sources), kr[0]))
    return [r for _, r in ranked]


def merge_ranked(query: Query[Any], items: Sequence[Sourced], ref: datetime, margin: float) -> Merged:
    ranked = _ranked(query, items, ref)
    if not ranked:
        return Merged(None)
    conflict = len(ranked) > 1 and ranked[0].confidence - ranked[1].confidence < margin
    return Merged(ranked[0], tuple(ranked), conflict)


def merge_union(query: Query[Any], items: Sequence[Sourced], ref: datetime, margin: float) -> Merged:
    sources = _sources(query, items, ref)
    if not sources:
        return Merged(None)
    seen: dict[str, Any] = {}
    members: dict[str, list[str]] = {}
    for src in sources:
        for element in src.value:
            k = str(element).casefold()
            seen.setdefault(k, element)
            members.setdefault(k, []).append(src.provider)
    value = [seen[k] for k in sorted(seen)]
    answer = Ranked(value, _combine(s.score for s in sources), tuple(sources))
    return Merged(answer, (answer,), False, {"members": {seen[k]: sorted(v) for k, v in sorted(members.items())}})


MALICIOUS_AT = 0.4
SUSPICIOUS_AT = 0.2
_SEVERITY = {Verdict.MALICIOUS: 3, Verdict.SUSPICIOUS: 2, Verdict.HARMLESS: 1, Verdict.UNKNOWN: 0}


# --- the clearance rule (docs/verdicts.md) ---------------------------------------------------------------------
# An allowlist entry or a recorded false positive (``Reputation.allowlisted``: a blocklist's harmless feed, a MISP
# false-positive sighting majority or allowlist tag, AbuseIPDB's whitelist) is a decision someone made about this
# exact value, usually because an engine flagged it. When the allowlisting sources' combined score reaches
# CLEARED_AT, the verdict is harmless whatever the engines vote; the disagreement stays visible as ``conflict``
# and ``details.cleared_by``. A low-trust allowlist (weight × confidence × recency below CLEARED_AT) clears nothing.
CLEARED_AT = 0.5


def _clearing(sources: Sequence[Source]) -> list[Source]:
    return [s for s in sources if s.value.verdict is Verdict.HARMLESS and s.value.allowlisted]


def merge_verdict(query: Query[Any], items: Sequence[Sourced], ref: datetime, margin: float) -> Merged:
    """One verdict: harmless when allowlisting sources add up to ≥ 0.5 (the clearance rule above), else malicious
    when the sources calling it malicious add up to ≥ 0.4, suspicious when bad opinions add up to ≥ 0.2, harmless
    when any source clears it, else unknown."""
    sources = _sources(query, items, ref)
    if not sources:
        return Merged(None)
    support = {v: _combine(s.score for s in sources if s.value.verdict is v) for v in Verdict}
    bad = _combine(s.score for s in sources if _SEVERITY[s.value.verdict] >= 2)
    clearing = _clearing(sources)
    cleared = _combine(s.score for s in clearing) >= CLEARED_AT
    if cleared:
        verdict = Verdict.HARMLESS
    elif support[Verdict.MALICIOUS] >= MALICIOUS_AT:
        verdict = Verdict.MALICIOUS
    elif bad >= SUSPICIOUS_AT:
        verdict = Verdict.SUSPICIOUS
    elif support[Verdict.HARMLESS] > 0:
        verdict = Verdict.HARMLESS
    else:
        verdict = Verdict.UNKNOWN
    reps: list[Reputation] = [s.value for s in sources]
    labelled = [s.value for s in clearing] if cleared else sorted(reps, key=lambda r: -_SEVERITY[r.verdict])
    value = Reputation(
        verdict=verdict,
        malicious=sum(r.malicious for r in reps),
        suspicious=sum(r.suspicious for r in reps),
        harmless=sum(r.harmless for r in reps),
        undetected=sum(r.undetected for r in reps),
        total=sum(r.total for r in reps),
        label=next((r.label for r in labelled if r.label), None),
        link=next((r.link for r in (labelled if cleared else reps) if r.link), None),
        allowlisted=cleared,
    )
    agreeing = [s.score for s in sources if s.value.verdict is verdict] or [0.0]
    answer = Ranked(value, _combine(agreeing), tuple(sources))
    conflict = bad >= 0.5 and support[Verdict.HARMLESS] >= 0.5
    votes = {v.value: sorted(s.provider for s in sources if s.value.verdict is v) for v in Verdict}
    details: dict[str, Any] = {"votes": {k: v for k, v in votes.items() if v}}
    if cleared:
        details["cleared_by"] = sorted(s.provider for s in clearing)
    return Merged(answer, (answer,), conflict, details)


_STRATEGIES = {
    MergeStrategy.RANKED: merge_ranked,
    MergeStrategy.RECORD: merge_ranked,
    MergeStrategy.UNION: merge_union,
    MergeStrategy.VERDICT: merge_verdict,
}


def merge(query: Query[Any], items: Sequence[Sourced], ref: datetime, margin: float = 0.1) -> Merged:
    """Merge the answers of every provider that answered ``query``; ``ref`` is the request's `at` or now."""
    return _STRATEGIES[query.merge](query, items, ref, margin)
