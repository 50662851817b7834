"""Ranking and merging: pure functions from provider answers to one answer with provenance.

Scoring (README "How answers are ranked"; positron/evidence.py reads one answer against ref = `at` or now):
  source score   s = weight × confidence × decay, decay = 2^(−age / half_life) with the age of the answer's
                 evidence at ref (0 when it contains ref; ×½ when it had ended or only comes from after ref)
  history        a provider's answers are its history: only its best-placed answer (contains ref, then higher
                 score, then later confirmation) is *current* and competes; its others are alternatives
  group score    raw = 1 − Π(1 − min(s, 0.99)) over the distinct providers agreeing on a value (current sources
                 only, when the group has any); confidence = calibration.probability(raw, contains, providers agreeing)
  group order    current before alternatives; evidence containing ref before the rest; raw score; the sum of
                 scores; the latest confirmation; the later interval and observation; and only then the
                 value's key (so names decide only between values with identical evidence)
  alternatives   the values exclude each other: answers[0] keeps its calibrated probability, the others share
                 what is left of 1 in proportion to their raw scores
  conflict       another group holds the current answer of an independent provider, with comparable evidence:
                 neither contains ref, or its raw score is within ``margin`` of the winner's;
                 ``conflict_providers`` names both sides
Nothing is rounded, and every choice goes through a total order, so the result never depends on the order
providers answered in, and merging a list with itself changes nothing (one provider counts once per value).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from positron.calibration import probability
from positron.evidence import Evidence, read
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
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    weight: float = 1.0
    decay: float = 1.0
    evidence: Evidence = Evidence.UNDATED
    last_confirmed: datetime | None = None
    current: bool = True


@dataclass(frozen=True, slots=True)
class Why:
    """Why a group ranks where it does: its best source's evidence at ref, and the uncalibrated score."""

    evidence: Evidence
    provider: str
    valid_from: datetime | None
    valid_to: datetime | None
    last_confirmed: datetime | None
    age_s: float | None
    score: float
    providers: tuple[str, ...]  # the sources counted in the score


@dataclass(frozen=True, slots=True)
class Ranked:
    value: Any
    confidence: float
    sources: tuple[Source, ...]
    why: Why | None = None


@dataclass(frozen=True, slots=True)
class Merged:
    answer: Ranked | None
    answers: tuple[Ranked, ...] = ()
    conflict: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    conflict_providers: tuple[str, ...] = ()


MAX_SOURCE_SCORE = 0.99  # no single source is certain, so agreement can always add


def _combine(scores: Iterable[float]) -> float:
    """``1 − Π(1 − s)``, computed as ``−expm1(Σ log1p(−s))`` so that a tiny score (old evidence) stays itself
    instead of vanishing in ``1 − (1 − 1e-20)``."""
    return max(0.0, -math.expm1(sum(math.log1p(-min(max(s, 0.0), MAX_SOURCE_SCORE)) for s in scores)))


def _stamp(t: datetime | None) -> float:
    return t.timestamp() if t is not None else -math.inf


def _scored(query: Query[Any], item: Sourced, ref: datetime) -> Source:
    a = item.answer
    reading = read(a, ref, query.half_life_s)
    score = item.weight * a.confidence * reading.decay
    return Source(
        item.provider, item.provider_type, a.value, a.confidence, score, a.observed_at, a.source_ref,
        a.valid_from, a.valid_to, item.weight, reading.decay, reading.evidence, reading.last_confirmed,
    )  # fmt: skip


def _order(query: Query[Any], s: Source) -> tuple[Any, ...]:
    """Best first, a total order: evidence, then score, then every field, so arrival order never decides."""
    return (
        s.evidence is not Evidence.CONTAINS, -s.score, -_stamp(s.last_confirmed), -s.confidence,
        -_stamp(s.valid_from), -_stamp(s.observed_at), -_stamp(s.valid_to), query.key(s.value), repr(s.value),
        s.source_ref or "", s.provider, s.type, -s.weight,
    )  # fmt: skip


def _sources(query: Query[Any], items: Iterable[Sourced], ref: datetime) -> list[Source]:
    """Every answer scored, each provider's best one marked current (its value at ref), best first."""
    scored = sorted((_scored(query, item, ref) for item in items), key=lambda s: _order(query, s))
    seen: set[str] = set()
    out = []
    for s in scored:
        out.append(replace(s, current=s.provider not in seen))
        seen.add(s.provider)
    return out


def _per_provider(query: Query[Any], sources: Iterable[Source]) -> list[Source]:
    """The best source of each provider (its current one if there), current sources first, then by rank."""
    ordered = sorted(sources, key=lambda s: (not s.current, _order(query, s)))
    best: dict[str, Source] = {}
    for s in ordered:
        best.setdefault(s.provider, s)
    return list(best.values())


def _group(query: Query[Any], sources: Sequence[Source]) -> dict[str, list[Source]]:
    groups: dict[str, list[Source]] = {}
    for s in sources:
        groups.setdefault(query.key(s.value), []).append(s)
    if query.host_names:
        _fold_short_names(groups)
    return groups


def _fold_short_names(groups: dict[str, list[Source]]) -> None:
    """``ws-042`` joins ``ws-042.corp.example`` when that is the only FQDN it can abbreviate."""
    for short in sorted(k for k in groups if "." not in k):
        fqdns = sorted(k for k in groups if "." in k and k.split(".", 1)[0] == short)
        if len(fqdns) == 1:
            groups[fqdns[0]].extend(groups.pop(short))


def _representative(query: Query[Any], key: str, sources: list[Source]) -> Any:
    """The group's value: a record filled from its sources (a host record keeps its own fields even when a short
    name joined its FQDN), else the FQDN a host-name group is keyed by, else the best source's value."""
    if query.merge is MergeStrategy.RECORD:
        return _fill_record([s.value for s in sources])
    if query.host_names:
        return key
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


def _why(counted: Sequence[Source], raw: float, ref: datetime) -> Why:
    best = counted[0]
    age = None if best.last_confirmed is None else abs((ref - best.last_confirmed).total_seconds())
    providers = tuple(sorted(s.provider for s in counted))
    return Why(best.evidence, best.provider, best.valid_from, best.valid_to, best.last_confirmed, age, raw, providers)


def _build(query: Query[Any], key: str, members: list[Source], ref: datetime) -> tuple[tuple[Any, ...], Ranked]:
    sources = _per_provider(query, members)
    current = [s for s in sources if s.current]
    counted = current or sources
    raw = _combine(s.score for s in counted)
    contains = counted[0].evidence is Evidence.CONTAINS
    ranked = Ranked(_representative(query, key, counted + [s for s in sources if not s.current]),
                    probability(raw, contains, len(counted)), tuple(sources), _why(counted, raw, ref))  # fmt: skip
    latest = max(_stamp(s.last_confirmed) for s in counted)
    best = counted[0]
    evidence = (-_stamp(best.valid_from), -_stamp(best.observed_at), -_stamp(best.valid_to))
    order = (not current, not contains, -raw, -sum(s.score for s in counted), -latest, *evidence, key)
    return order, ranked


def _ranked(query: Query[Any], items: Sequence[Sourced], ref: datetime) -> list[Ranked]:
    groups = _group(query, _sources(query, items, ref))
    built = sorted((_build(query, key, members, ref) for key, members in groups.items()), key=lambda p: p[0])
    return [r for _, r in built]


def _conflict(ranked: Sequence[Ranked], margin: float) -> tuple[str, ...]:
    """The providers on both sides when an independent provider's current answer is another value with
    comparable evidence. Evidence containing ref is undecayed, so its scores compare: a rival within ``margin``
    of the winner counts. Evidence from other times decays steeply and the winner's is no better in kind: any
    independent current disagreement counts."""
    top = ranked[0]
    if top.why is None or not any(s.current for s in top.sources):
        return ()
    mine = {s.provider for s in top.sources}
    rivals: set[str] = set()
    for other in ranked[1:]:
        if other.why is None:
            continue
        indirect = Evidence.CONTAINS not in (other.why.evidence, top.why.evidence)
        if indirect or other.why.score >= top.why.score - margin:
            rivals |= {s.provider for s in other.sources if s.current} - mine
    if not rivals:
        return ()
    return tuple(sorted(rivals | {s.provider for s in top.sources if s.current}))


def _shares(ranked: list[Ranked]) -> list[Ranked]:
    """The values exclude each other: the winner keeps its calibrated probability, the alternatives share what is
    left in proportion to their raw scores (capped, going down the list, at the one above)."""
    if len(ranked) < 2:
        return ranked
    rest = 1.0 - ranked[0].confidence
    raws = [r.why.score if r.why else 0.0 for r in ranked[1:]]
    total = sum(raws)
    out, cap = [ranked[0]], ranked[0].confidence
    for r, raw in zip(ranked[1:], raws, strict=True):
        share = rest * (raw / total if total > 0 else 1 / len(raws))
        cap = min(cap, share)
        out.append(replace(r, confidence=cap))
    return out


def merge_ranked(query: Query[Any], items: Sequence[Sourced], ref: datetime, margin: float) -> Merged:
    ranked = _shares(_ranked(query, items, ref))
    if not ranked:
        return Merged(None)
    sides = _conflict(ranked, margin)
    return Merged(ranked[0], tuple(ranked), bool(sides), {}, sides)


def merge_union(query: Query[Any], items: Sequence[Sourced], ref: datetime, margin: float) -> Merged:
    """The union of every provider's current list (its list at ref); earlier or later lists are left out."""
    sources = [s for s in _sources(query, items, ref) if s.current]
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
    raw = _combine(s.score for s in sources)
    answer = Ranked(value, raw, tuple(sources), _why(sources, raw, ref))
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
    """One verdict from each provider's current verdict: harmless when allowlisting sources add up to ≥ 0.5 (the
    clearance rule above), else malicious when the sources calling it malicious add up to ≥ 0.4, suspicious when
    bad opinions add up to ≥ 0.2, harmless when any source clears it, else unknown."""
    sources = [s for s in _sources(query, items, ref) if s.current]
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
    agreeing = [s for s in sources if s.value.verdict is verdict]
    raw = _combine(s.score for s in agreeing)
    answer = Ranked(value, raw, tuple(sources), _why(agreeing or sources, raw, ref))
    conflict = bad >= 0.5 and support[Verdict.HARMLESS] >= 0.5
    votes = {v.value: sorted(s.provider for s in sources if s.value.verdict is v) for v in Verdict}
    sides = tuple(sorted(s.provider for s in sources if _SEVERITY[s.value.verdict] != 0)) if conflict else ()
    details: dict[str, Any] = {"votes": {k: v for k, v in votes.items() if v}}
    if cleared:
        details["cleared_by"] = sorted(s.provider for s in clearing)
    return Merged(answer, (answer,), conflict, details, sides)


_STRATEGIES = {
    MergeStrategy.RANKED: merge_ranked,
    MergeStrategy.RECORD: merge_ranked,
    MergeStrategy.UNION: merge_union,
    MergeStrategy.VERDICT: merge_verdict,
}


def merge(query: Query[Any], items: Sequence[Sourced], ref: datetime, margin: float = 0.1) -> Merged:
    """Merge the answers of every provider that answered ``query``; ``ref`` is the request's `at` or now."""
    return _STRATEGIES[query.merge](query, items, ref, margin)
