"""Merged scores → probabilities: ``answer.confidence`` is the chance the answer is right.

The merge's raw group score (``1 − Π(1 − weight × confidence × decay)``, see positron/merge.py) orders answers
but is no probability. The maps below turn it into one. They were fitted offline by isotonic regression (pool
adjacent violators) of "the answer was right" on log10 of the raw score, in four classes: whether the best
evidence contains the time asked about, and whether one provider or several independent ones agree on the value
(agreement is the strongest sign of a right answer, and the product formula underrates it once evidence has
decayed), on the ground-truth benchmark's training seed
(``python -m bench.quality --seed 1 --fit``; bench/quality/fit.py), then checked on another seed (the table in
docs/benchmarks.md). Between the fitted knots the map is linear in log10(raw), and every knot is higher than the one
before, so within a class a higher score never gets a lower probability and distinct scores between knots do not
collapse into one value (beyond the outermost knots the map is flat). Ranking never uses these probabilities:
it uses the raw score (positron/merge.py), so calibration cannot reorder answers.
Refit when the scoring or a provider's confidence changes.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

Curve = Sequence[tuple[float, float]]  # (log10 raw score, probability): both strictly ascending

FLOOR = -300.0  # log10 of raw scores at or below 1e-300 (decay reaches 0 only after ~1000 half-lives)

# fitted on bench seed 1 (see the module docstring)
CURVES: dict[tuple[bool, bool], Curve] = {
    (True, False): (  # 30 answers
        (-0.034, 0.875), (-0.022, 0.995),
    ),
    (True, True): (  # 291 answers
        (-0.012, 0.995),
    ),
    (False, False): (  # 143 answers
        (-24.487, 0.8571), (-1.331, 0.875), (-0.983, 0.9412), (-0.569, 0.9655), (-0.161, 0.995),
    ),
    (False, True): (  # 196 answers
        (-3.364, 0.9848), (-0.441, 0.995),
    ),
}


def log_score(raw: float) -> float:
    return max(math.log10(raw), FLOOR) if raw > 0 else FLOOR


def interpolate(curve: Curve, x: float) -> float:
    xs = [k for k, _ in curve]
    i = bisect_right(xs, x)
    if i == 0:
        return curve[0][1]
    if i == len(curve):
        return curve[-1][1]
    (x0, y0), (x1, y1) = curve[i - 1], curve[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def probability(raw: float, contains: bool, agreeing: int) -> float:
    """The calibrated chance that an answer is right, from its raw score, whether its best evidence contains the
    time asked about, and how many providers agree on it."""
    return interpolate(CURVES[(contains, agreeing > 1)], log_score(raw))


__all__ = ["CURVES", "FLOOR", "Curve", "interpolate", "log_score", "probability"]
