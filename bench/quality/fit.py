"""Fit the calibration maps (positron/calibration.py) on one benchmark run: isotonic regression (pool adjacent
violators) of right/wrong on log10 of the raw score, separately for answers whose evidence contains `at`."""

from __future__ import annotations

from collections.abc import Sequence

from bench.quality.run import Record
from positron.calibration import log_score

MIN_BLOCK = 8  # blocks smaller than this are pooled with a neighbour: a knot from 3 answers is noise


def pav(points: Sequence[tuple[float, bool]]) -> list[tuple[float, float, int]]:
    """(mean x, mean y, size) of the isotonic blocks over points sorted by x."""
    blocks: list[list[float]] = []  # [sum x, sum y, n]
    for x, y in sorted(points):
        blocks.append([x, float(y), 1])
        while len(blocks) > 1 and (
            blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2] or blocks[-2][2] < MIN_BLOCK
        ):
            last = blocks.pop()
            for i in range(3):
                blocks[-1][i] += last[i]
    if len(blocks) > 1 and blocks[-1][2] < MIN_BLOCK:
        last = blocks.pop()
        for i in range(3):
            blocks[-1][i] += last[i]
    return [(sx / n, sy / n, int(n)) for sx, sy, n in blocks]


def curve(points: Sequence[tuple[float, bool]]) -> list[tuple[float, float]]:
    """Knots at each block's mean log score; probabilities kept strictly increasing and inside (0, 1)."""
    knots: list[tuple[float, float]] = []
    for x, p, _ in pav(points):
        p = min(max(p, 0.005), 0.995)
        if knots and p <= knots[-1][1]:
            p = knots[-1][1] + 1e-4
        knots.append((round(x, 3), round(p, 4)))
    return knots


def fit(records: Sequence[Record]) -> str:
    """The CURVES literal for positron/calibration.py; a class with too few answers borrows its evidence kind's."""
    dated = [r for r in records if r.raw is not None and r.answer is not None]
    out = ["CURVES: dict[tuple[bool, bool], Curve] = {"]
    for contains in (True, False):
        kind = [r for r in dated if (r.tier == "contains") == contains]
        for agree in (False, True):
            pts = [(log_score(r.raw or 0.0), r.right) for r in kind if (r.agreeing > 1) == agree]
            if len(pts) < 2 * MIN_BLOCK:
                pts = [(log_score(r.raw or 0.0), r.right) for r in kind]
            knots = ", ".join(f"({x!r}, {y!r})" for x, y in curve(pts))
            out.append(f"    ({contains}, {agree}): (  # {len(pts)} answers\n        {knots},\n    ),")
    return "\n".join([*out, "}"])
