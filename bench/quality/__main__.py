"""python -m bench.quality [--seed N] [--hosts N] [--lookups N] [--write] [--fit]

Runs the simulated enterprise through a real server and prints the per-stratum table; ``--write`` puts it into
docs/benchmarks.md (its own section); ``--fit`` prints the calibration points fitted on this run (see
positron/calibration.py for how they are used).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict

from bench.quality import metrics
from bench.quality.run import simulate
from bench.quality.world import Params


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.quality")
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--hosts", type=int, default=Params.hosts)
    ap.add_argument("--people", type=int, default=Params.people)
    ap.add_argument("--lookups", type=int, default=Params.lookups)
    ap.add_argument("--write", action="store_true", help="write the table into docs/benchmarks.md")
    ap.add_argument("--fit", action="store_true", help="print calibration points fitted on this run")
    args = ap.parse_args(argv)
    params = Params(seed=args.seed, hosts=args.hosts, people=args.people, lookups=args.lookups)
    started = time.monotonic()
    records = simulate(params)
    rows = metrics.strata(records)
    text = metrics.table(rows)
    sys.stdout.write(f"{asdict(params)}  ({time.monotonic() - started:.0f} s)\n{text}\n")
    if args.fit:
        from bench.quality.fit import fit

        sys.stdout.write(fit(records) + "\n")
    if args.write:
        from bench.quality.report import write

        write(params, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
