"""How one answer bears on the time asked about: pure functions from an answer's times to its evidence.

An answer carries ``valid_from``/``valid_to`` (when its fact held, as the source states or infers it) and
``observed_at`` (when the source last saw it). Against ``ref`` (the request's ``at``, or now) it is one of:

  contains  a bounded interval [valid_from, valid_to) holds ref, or the source saw the fact on both sides of ref
            (valid_from ≤ ref ≤ observed_at): confirmed at ref itself, age 0
  before    valid from before ref with no end (a last-verified row, a last sighting): last confirmed at
            observed_at (or valid_from), age = ref − that
  ended     held until valid_to ≤ ref: it had stopped by then; age = ref − valid_to
  after     first valid after ref (a row verified later, a sighting after the alert): age = valid_from − ref
  undated   no time at all

The decay is continuous, ``2^(−age / half_life)``: no floor that makes old and very old evidence equal, no
rounding that makes two ages tie. Evidence that had ended, or that only comes from after ref, counts at
``ASIDE`` (half) of what the same age before ref would; undated evidence at ``UNDATED``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from positron.query import Answer

ASIDE = 0.5  # ended before, or first seen after, ref: what it says about ref is indirect
UNDATED = 0.5


class Evidence(StrEnum):
    CONTAINS = "contains"
    BEFORE = "before"
    ENDED = "ended"
    AFTER = "after"
    UNDATED = "undated"


@dataclass(frozen=True, slots=True)
class Reading:
    """One answer read against ref: its kind of evidence, when it was last confirmed, and the decay factor."""

    evidence: Evidence
    last_confirmed: datetime | None
    age_s: float | None
    decay: float


def decay(age_s: float, half_life_s: float) -> float:
    return float(2.0 ** (-max(age_s, 0.0) / half_life_s))


def read(answer: Answer[Any], ref: datetime, half_life_s: float) -> Reading:
    start, end, seen = answer.valid_from, answer.valid_to, answer.observed_at
    if start is None and end is None:
        start = seen  # an answer with only an observation time: valid from then, open-ended
    if start is None and end is None:
        return Reading(Evidence.UNDATED, None, None, UNDATED)
    if start is not None and start > ref:
        age = (start - ref).total_seconds()
        return Reading(Evidence.AFTER, start, age, ASIDE * decay(age, half_life_s))
    if end is not None and end <= ref:
        age = (ref - end).total_seconds()
        return Reading(Evidence.ENDED, end, age, ASIDE * decay(age, half_life_s))
    if end is not None or (seen is not None and seen >= ref):
        return Reading(Evidence.CONTAINS, ref, 0.0, 1.0)
    last = seen if seen is not None and start is not None and seen > start else (start or seen)
    assert last is not None
    age = (ref - last).total_seconds()
    return Reading(Evidence.BEFORE, last, age, decay(age, half_life_s))


__all__ = ["ASIDE", "UNDATED", "Evidence", "Reading", "decay", "read"]
