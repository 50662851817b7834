"""What a query is: a declaration, not code. Providers refer to these objects; the catalog is queries/."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from positron.errors import InvalidInput
from positron.inputs import InputKind, normalize

T = TypeVar("T")


class MergeStrategy(StrEnum):
    RANKED = "ranked"  # equal values (by key) merge; groups ranked by score
    RECORD = "record"  # ranked like RANKED, then the winning group's fields are filled from its other sources
    UNION = "union"  # list values: the union, each item with its sources
    VERDICT = "verdict"  # reputation: one verdict from every source's verdict and counts


class Sensitivity(StrEnum):
    NETWORK = "network"  # infrastructure facts
    PERSONAL = "personal"  # data about people (PII)
    INDICATOR = "indicator"  # reputation of an observable; may go to external services


def _identity(value: Any) -> str:
    return str(value)


@dataclass(frozen=True, slots=True)
class Query(Generic[T]):
    """A standardized question with a typed input and output.

    ``key`` maps an answer value to the string that decides equality when merging (after normalization);
    ``half_life_s`` is how fast an observation loses weight as it moves away from the time asked about.
    """

    name: str
    description: str
    input: InputKind
    output: type[T]
    merge: MergeStrategy
    cache_ttl_s: float
    accepts_at: bool = False
    sensitivity: Sensitivity = Sensitivity.NETWORK
    key: Callable[[T], str] = field(default=_identity)
    half_life_s: float = 86_400.0
    no_data_ttl_s: float = 60.0
    host_names: bool = False  # values are host names: a short name merges into the one FQDN it abbreviates
    # Also answered by chaining these queries (by name): the first's best answer is the second's input, at the
    # same ``at``. The engine runs the chain beside the direct providers (engine.Engine._chain).
    via: tuple[str, ...] = ()

    def normalize(self, raw: str) -> str:
        return normalize(self.input, raw)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Lookup:
    """One normalized question put to one provider. Built once, at the boundary, with ``Lookup.of``: the engine,
    the batch and the providers take it as it is and never normalize again."""

    query: Query[Any]
    value: str
    at: datetime | None = None

    @classmethod
    def of(cls, query: Query[Any], raw_value: str, at: datetime | None = None) -> Lookup:
        """The raw input checked and normalized: the value by its input kind, ``at`` only where the query takes
        it, naive times read as UTC, and times that have no UTC equivalent (``9999-12-31T23:59:59-01:00``)
        refused as the caller's mistake rather than failing later."""
        if at is not None:
            if not query.accepts_at:
                raise InvalidInput(f"{query.name} does not take 'at' (it answers for now only)")
            if at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
            try:
                at.astimezone(UTC)
            except OverflowError:
                raise InvalidInput("at: expected a time between 0001-01-01 and 9999-12-31 in UTC") from None
        return cls(query, query.normalize(raw_value), at)

    @property
    def identity(self) -> tuple[str, str, datetime | None]:
        """What makes two lookups the same work: the query, the normalized value and the instant asked about."""
        return self.query.name, self.value, self.at.astimezone(UTC) if self.at is not None else None


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    """One provider's answer. ``confidence`` is the provider's own belief (0..1); ``observed_at`` is when the
    source last saw the fact; ``source_ref`` links to it (a permalink, a search id). ``valid_from``/``valid_to``
    say when the fact held, as the source states it (a lease's start and end) or infers it (a log row until the
    next row for the same key); None is unknown on that side (``valid_to`` None: no known end)."""

    value: T
    confidence: float = 1.0
    observed_at: datetime | None = None
    source_ref: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be within 0..1, got {self.confidence}")
        if self.valid_from is not None and self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} is before valid_from {self.valid_from}")
