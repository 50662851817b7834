"""Per-stratum answer quality from the lookup records: accuracy, each source's, the oracle, calibration.

Definitions (docs/benchmarks.md repeats them):
  top-1        the answer's value is the truth (no answer counts as wrong)
  source X     X's own claim for `at` is the truth (X not answering counts as wrong)
  oracle       the truth is some provider's claim for `at` (the best any pick among the claims could do)
  oracle_any   the truth is any value any provider returned, including values it held before or after `at`
  ECE          Σ_bins |bin| / n × |accuracy(bin) − mean confidence(bin)|, 10 equal-width bins over [0, 1]
  Brier        mean (confidence − right)²
  P(w|c)       P(wrong | conflict: true), P(w|¬c) with conflict false
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bench.quality.run import AGES, COVERAGE, Record

PROVIDERS = ("dhcp", "splunk", "inventory", "ad", "hr_export")


@dataclass(frozen=True)
class Row:
    stratum: str
    n: int
    top1: float
    sources: dict[str, float]
    oracle: float
    oracle_any: float
    ece: float
    brier: float
    wrong_conflict: float | None
    wrong_clear: float | None
    conflicts: int


def ece(records: Sequence[Record], bins: int = 10) -> float:
    total = 0.0
    for b in range(bins):
        inside = [r for r in records if min(int(r.confidence * bins), bins - 1) == b]
        if inside:
            acc = sum(r.right for r in inside) / len(inside)
            conf = sum(r.confidence for r in inside) / len(inside)
            total += len(inside) / len(records) * abs(acc - conf)
    return total


def _rate(flags: Iterable[bool]) -> float | None:
    values = list(flags)
    return sum(values) / len(values) if values else None


def row(stratum: str, records: Sequence[Record]) -> Row:
    n = len(records)
    present = [p for p in PROVIDERS if any(p in r.claims or p in r.returned for r in records)]
    seen = {p for r in records for p in r.claims}
    return Row(
        stratum,
        n,
        sum(r.right for r in records) / n,
        {p: sum(r.claims.get(p) == r.truth for r in records) / n for p in present if p in seen},
        sum(r.truth in r.claims.values() for r in records) / n,
        sum(r.truth in r.returned for r in records) / n,
        ece(records),
        sum((r.confidence - r.right) ** 2 for r in records) / n,
        _rate(not r.right for r in records if r.conflict),
        _rate(not r.right for r in records if not r.conflict),
        sum(r.conflict for r in records),
    )


def strata(records: Sequence[Record]) -> list[Row]:
    """Every coverage × age cell, then each coverage and each age alone, people, and everything."""
    out = []
    for c in COVERAGE:
        for a in AGES:
            cell = [r for r in records if r.coverage == c and r.age == a]
            if cell:
                out.append(row(f"{c} / {a}", cell))
    for c in COVERAGE:
        out.append(row(f"{c} (all ages)", [r for r in records if r.coverage == c]))
    for a in AGES:
        out.append(row(f"{a} (network)", [r for r in records if r.age == a and r.coverage != "people"]))
    folks = [r for r in records if r.coverage == "people"]
    if folks:
        out.append(row("people / now (USER_MANAGER)", folks))
    out.append(row("all", records))
    return out


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def table(rows: Sequence[Row]) -> str:
    head = "| stratum | n | top-1 | dhcp | splunk | inventory | ad | hr_export | oracle | oracle (any) | ECE | Brier |"
    head += " conflicts | P(wrong∣conflict) | P(wrong∣no conflict) |"
    lines = [head, "|" + "---|" * 16]
    for r in rows:
        cols = [_pct(r.sources.get(p)) for p in PROVIDERS]
        lines.append(
            f"| {r.stratum} | {r.n} | {r.top1:.3f} | {' | '.join(cols)} | {r.oracle:.3f} | {r.oracle_any:.3f} "
            f"| {r.ece:.3f} | {r.brier:.3f} | {r.conflicts} | {_pct(r.wrong_conflict)} | {_pct(r.wrong_clear)} |"
        )
    return "\n".join(lines)
