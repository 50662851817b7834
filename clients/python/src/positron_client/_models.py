"""Typed views of Positron's responses: frozen dataclasses parsed from the JSON the server sends.

Parsing is tolerant in one direction only: fields a newer server adds are ignored; fields the client needs must be
there (or ``UnexpectedResponse`` is raised by the caller).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")
M = TypeVar("M")

Status = Literal["ok", "no_data", "error", "timeout", "rate_limited", "skipped"]
Verdict = Literal["malicious", "suspicious", "harmless", "unknown"]


def parse_time(raw: Any) -> datetime | None:
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


def _known(cls: type[M], data: Mapping[str, Any]) -> M:
    """Build a dataclass from the keys it knows (a newer server may send more)."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


# --- answer values of the standard queries ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    """USER_MANAGER's answer."""

    username: str
    display_name: str | None = None
    email: str | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class UserInfo:
    """USER_INFO's answer. ``manager`` is the manager's username."""

    username: str
    display_name: str | None = None
    email: str | None = None
    title: str | None = None
    department: str | None = None
    company: str | None = None
    location: str | None = None
    phone: str | None = None
    enabled: bool | None = None  # False when disabled or expired
    expires: datetime | None = None  # when the account expires (expired if past); None: never, or not known
    manager: str | None = None


@dataclass(frozen=True, slots=True)
class Reputation:
    """HASH_/IP_/DOMAIN_/URL_REPUTATION's answer: one verdict and the summed counts."""

    verdict: Verdict
    malicious: int = 0
    suspicious: int = 0
    harmless: int = 0
    undetected: int = 0
    total: int = 0
    label: str | None = None
    link: str | None = None
    allowlisted: bool = False  # an allowlist or a recorded false positive cleared it


@dataclass(frozen=True, slots=True)
class OnCall:
    """TEAM_ONCALL's answer."""

    user: str
    email: str | None = None
    escalation_level: int = 1
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class HostInfo:
    """HOST_INFO's answer. ``agent_ids`` are ``source:id`` strings."""

    hostname: str
    os: str | None = None
    platform: str | None = None
    ip: str | None = None
    mac: str | None = None
    serial_number: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    owner: str | None = None
    site: str | None = None
    last_seen: datetime | None = None
    agent_ids: tuple[str, ...] | None = None


def parse_host_info(raw: Any) -> HostInfo:
    info = _known(HostInfo, raw)
    agents = raw.get("agent_ids")
    return dataclasses.replace(
        info,
        last_seen=parse_time(raw.get("last_seen")),
        agent_ids=tuple(str(a) for a in agents) if isinstance(agents, list) else None,
    )


def parse_person(raw: Any) -> Person:
    return _known(Person, raw)


def parse_user_info(raw: Any) -> UserInfo:
    info = _known(UserInfo, raw)
    return dataclasses.replace(info, expires=parse_time(raw.get("expires")))


def parse_reputation(raw: Any) -> Reputation:
    return _known(Reputation, raw)


def parse_oncall(raw: Any) -> OnCall:
    oncall = _known(OnCall, raw)
    start, end = parse_time(raw.get("start")), parse_time(raw.get("end"))
    return OnCall(oncall.user, oncall.email, oncall.escalation_level, start, end)


def parse_str(raw: Any) -> str:
    return str(raw)


def parse_str_list(raw: Any) -> list[str]:
    return [str(item) for item in raw]


def parse_any(raw: Any) -> Any:
    return raw


# --- the query result ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Source(Generic[T]):
    """What one provider answered, with its score (weight × confidence × decay) and provenance. ``valid_from``/
    ``valid_to``: when the fact held, per the source; ``evidence``: how that bears on the time asked about
    (contains, before, ended, after, undated); ``current``: this is the provider's value at that time (false: a
    value from its history). Older servers send none of these: they default to unknown."""

    provider: str
    type: str
    value: T
    confidence: float
    score: float
    observed_at: datetime | None
    source_ref: str | None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    evidence: str = "undated"
    last_confirmed: datetime | None = None
    weight: float = 1.0
    decay: float = 1.0
    current: bool = True


@dataclass(frozen=True, slots=True)
class Why:
    """Why an answer ranks where it does: its best source's evidence and interval, and the uncalibrated score."""

    evidence: str
    provider: str
    valid_from: datetime | None
    valid_to: datetime | None
    last_confirmed: datetime | None
    age_s: float | None
    score: float
    providers: list[str]


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    """One distinct answer: the merged value, its confidence (the calibrated probability that it is right) and
    every source that gave it."""

    value: T
    confidence: float
    sources: list[Source[T]]
    why: Why | None = None


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    """What happened at one provider instance for this request."""

    name: str
    type: str
    status: Status
    elapsed_ms: float
    cached: bool
    age_s: float | None = None
    error: str | None = None
    error_code: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True, slots=True)
class QueryResult(Generic[T]):
    """A query's answer: the best ``answer`` (None when no provider found one), every distinct answer best first,
    whether independent providers disagree (``conflict``, naming them in ``conflict_providers``), and what each
    provider did. ``raw`` is the JSON as received."""

    query: str
    value: str
    at: datetime | None
    answer: Answer[T] | None
    answers: list[Answer[T]]
    conflict: bool
    details: dict[str, Any]
    providers: list[ProviderStatus]
    took_ms: float
    raw: dict[str, Any] = field(repr=False, compare=False)
    conflict_providers: list[str] = field(default_factory=list)

    @property
    def best(self) -> T | None:
        """The best answer's value, or None."""
        return self.answer.value if self.answer is not None else None


def _source(raw: Mapping[str, Any], parse: Callable[[Any], T]) -> Source[T]:
    return Source(
        provider=raw["provider"],
        type=raw["type"],
        value=parse(raw["value"]),
        confidence=raw["confidence"],
        score=raw["score"],
        observed_at=parse_time(raw.get("observed_at")),
        source_ref=raw.get("source_ref"),
        valid_from=parse_time(raw.get("valid_from")),
        valid_to=parse_time(raw.get("valid_to")),
        evidence=str(raw.get("evidence", "undated")),
        last_confirmed=parse_time(raw.get("last_confirmed")),
        weight=float(raw.get("weight", 1.0)),
        decay=float(raw.get("decay", 1.0)),
        current=bool(raw.get("current", True)),
    )


def _why(raw: Mapping[str, Any] | None) -> Why | None:
    if raw is None:
        return None
    return Why(
        evidence=str(raw["evidence"]),
        provider=str(raw["provider"]),
        valid_from=parse_time(raw.get("valid_from")),
        valid_to=parse_time(raw.get("valid_to")),
        last_confirmed=parse_time(raw.get("last_confirmed")),
        age_s=raw.get("age_s"),
        score=float(raw["score"]),
        providers=[str(p) for p in raw.get("providers") or []],
    )


def _answer(raw: Mapping[str, Any], parse: Callable[[Any], T]) -> Answer[T]:
    sources = [_source(s, parse) for s in raw["sources"]]
    return Answer(parse(raw["value"]), raw["confidence"], sources, _why(raw.get("why")))


def parse_result(raw: dict[str, Any], parse: Callable[[Any], T]) -> QueryResult[T]:
    """A response body → QueryResult; ``parse`` turns one answer value into its type. Raises KeyError/TypeError/
    ValueError on a body that is not a query result (the caller turns those into UnexpectedResponse)."""
    answer = raw["answer"]
    return QueryResult(
        query=raw["query"],
        value=raw["value"],
        at=parse_time(raw.get("at")),
        answer=_answer(answer, parse) if answer is not None else None,
        answers=[_answer(a, parse) for a in raw["answers"]],
        conflict=bool(raw["conflict"]),
        conflict_providers=[str(p) for p in raw.get("conflict_providers") or []],
        details=dict(raw.get("details") or {}),
        providers=[_known(ProviderStatus, p) for p in raw["providers"]],
        took_ms=raw["took_ms"],
        raw=raw,
    )


# --- catalog and provider listings -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryInfo:
    """One entry of ``GET /v1/queries``: a query, its input, output schema and the providers that answer it."""

    name: str
    description: str
    input: str
    input_expected: str
    accepts_at: bool
    merge: str
    cache_ttl_s: float
    sensitivity: str
    providers: list[str]
    output_schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Quota:
    """One rate-limit bucket of a provider instance and the calls left in it now."""

    requests: int
    per_s: float
    remaining: int


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """One entry of ``GET /v1/providers``: a configured provider instance and its health (never a secret).
    ``circuit`` is ``open`` while the instance is skipped after consecutive failures."""

    name: str
    type: str
    queries: list[str]
    healthy: bool
    health: str
    egress: str
    weight: float
    timeout_s: float
    max_tlp: str | None = None
    quota: list[Quota] = field(default_factory=list)
    paused_s: float = 0.0
    circuit: str = "closed"


def parse_query_info(raw: Any) -> QueryInfo:
    return _known(QueryInfo, raw)


def parse_provider_info(raw: Any) -> ProviderInfo:
    info = _known(ProviderInfo, raw)
    return dataclasses.replace(info, quota=[_known(Quota, q) for q in raw.get("quota") or []])
