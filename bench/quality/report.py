"""Write the answer-quality section of docs/benchmarks.md; the speed sections around it are left as they are."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from bench.quality.metrics import __doc__ as DEFINITIONS
from bench.quality.world import Params

OUT = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"
BEFORE = Path(__file__).with_name("before_seed2.txt")  # the same world through commit d2c2835 (the old merge)
TITLE = "## Answer quality (ground truth)"

WHAT_MOVED = """What moved each number (before → after, seed 2):

- **static, top-1 0.885 → 0.965 (= the oracle)**: the old recency never fell below ½, so a weeks-old inventory row
  kept ≥ 0.45 and beat a day-old sighting of the new server; continuous decay by time since last confirmed lets
  the latest evidence at or before `at` win, and an inventory row verified after `at` counts as evidence from
  after it (×½, decaying with the gap) instead of answering every `at` alike.
- **dhcp_short days/weeks, top-1 0.76 → 0.86/0.88 (= the oracle)**: Splunk's rows became a history (runs valid until
  the next row), so only the value Splunk held at `at` competes; before, every value it had seen in the window
  competed on |observed − at|, and rows more than ~5 days away tied and fell to name order.
- **ECE 0.132 → 0.012, Brier 0.077 → 0.026**: confidence is the isotonic map of the raw score fitted on seed 1
  (positron/calibration.py), by kind of evidence and agreement; before it was the raw score (answers at 0.4–0.5
  were right far more often than that).
- **conflicts 56 → 95, P(wrong | conflict) 0.446 → 0.105, P(wrong | no conflict) 0.036 → 0.018 (ratio 12× → 5.8×)**:
  a provider's own history and ranked lists no longer conflict; a conflict is now an independent provider holding
  another value with comparable evidence. Before, conflicts mostly marked the old merge's own mistakes (which
  are gone); the wrong answers left are lookups where no source has the truth (the oracle misses), and those
  still come ≥ 3× likelier with a conflict.
- **dhcp_full, dhcp_short now/hours, people**: right before and after; confidence went from 0.85–0.99 raw scores to
  calibrated ≈ 0.995 (ECE 0.07–0.17 → 0.005).
- Single-source and oracle columns are properties of the sources, the same in both runs.
"""


def current() -> str:
    """The section as docs/benchmarks.md has it now ("" if none)."""
    text = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
    if TITLE not in text:
        return ""
    rest = text[text.index(TITLE) :]
    nxt = rest.find("\n## ", 1)
    return rest if nxt < 0 else rest[: nxt + 1]


def section(params: Params, table: str) -> str:
    settings = ", ".join(f"{k}={v}" for k, v in asdict(params).items())
    definitions = "\n".join(line for line in (DEFINITIONS or "").splitlines()[2:] if line.strip())
    recorded = BEFORE.read_text(encoding="utf-8").strip().splitlines() if BEFORE.exists() else ["(not recorded)"]
    before = f"Parameters: `{recorded[0]}`\n\n" + "\n".join(recorded[1:])
    return (
        f"{TITLE}\n\n"
        "`python -m bench.quality --write` (also part of `./dev bench`): a simulated enterprise with known truth "
        "(bench/quality/world.py: 30 days, DHCP churn, early releases, reassigned addresses, a Kea scope whose lease "
        "file keeps 3 days while Splunk has the whole period with missing and late events, static addresses known "
        "from a stale-in-places inventory and logs, a reorg that AD has before the HR export), written out as an "
        "ISC lease file, a Kea lease file, Splunk events (the splunkd emulator), an inventory CSV, an HR export and a "
        "real slapd, and asked through a real `positron serve`: lookups at random `at` per coverage and age "
        "stratum, plus now, plus every person's manager. Calibration constants were fitted on seed 1 "
        "(positron/calibration.py, `python -m bench.quality --seed 1 --fit`); this table is seed "
        f"{params.seed}, which they were not fitted on. tests/quality runs the same at a small size.\n\n"
        f"Parameters: {settings}.\n\n```\n{definitions}\n```\n\n### After (this branch)\n\n{table}\n\n"
        "### Before (the merge and providers of commit d2c2835, same world and seed)\n\n"
        f"{before}\n\n{WHAT_MOVED}"
    )


def write(params: Params, table: str) -> None:
    text = OUT.read_text(encoding="utf-8")
    old = current()
    new = section(params, table)
    text = text.replace(old, new) if old else text.rstrip("\n") + "\n\n" + new
    OUT.write_text(text, encoding="utf-8")
